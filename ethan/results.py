"""Predictions files: one JSON line per image, appended and flushed as each one finishes.

A crash can at worst leave one partial last line; opening the file again for a resumed run
cuts that line off, so the file only ever holds whole predictions. A lock file keeps two runs
from writing the same output at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from pydantic import ValidationError

from ethan.errors import ConfigError, OutputLockedError
from ethan.types import Prediction

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def prediction_key(prediction: Prediction) -> str:
    """What identifies a prediction in a file: the dataset id in evals, else the image key."""
    return prediction.id if prediction.id is not None else prediction.image


class DoneKeys:
    """The keys of the predictions a file already holds, kept as 64-bit digests.

    A resumed run needs only "is this image done?", so a million finished images cost a set
    of integers (tens of MB), not a million predictions held in memory.
    """

    def __init__(self) -> None:
        self._digests: set[int] = set()

    @staticmethod
    def _digest(key: str) -> int:
        raw = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(raw, "little")

    def add(self, key: str) -> None:
        self._digests.add(self._digest(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._digest(key) in self._digests

    def __len__(self) -> int:
        return len(self._digests)


def read_done_keys(path: str | Path) -> DoneKeys:
    """The keys of the whole, valid prediction lines of a file (without building them)."""
    done = DoneKeys()
    with Path(path).open("rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict) or "status" not in row:
                continue
            key = row.get("id") if row.get("id") is not None else row.get("image")
            if isinstance(key, str):
                done.add(key)
    return done


def read_predictions(path: str | Path) -> Iterator[Prediction]:
    """Yield the whole, valid predictions of a file, skipping a torn or foreign line."""
    with Path(path).open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            try:
                yield Prediction.model_validate_json(line)
            except (ValidationError, json.JSONDecodeError, ValueError):
                continue


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, encoding="utf-8"
    ) as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(fh.name, path)


def _cut_partial_tail(path: Path) -> None:
    """Drop a last line that a killed run left without its newline."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        block = 65536
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            newline = chunk.rfind(b"\n")
            if newline != -1:
                fh.truncate(start + newline + 1)
                return
            pos = start
        fh.truncate(0)


class PredictionWriter:
    """Appends predictions to a JSONL file under an exclusive lock.

    ``resume=True`` keeps what the file holds and reports its keys in :attr:`done`
    (:func:`prediction_key`: the dataset id, else the image key);
    ``resume=False`` refuses to touch a non-empty file unless ``overwrite=True``.
    """

    def __init__(self, path: str | Path, *, resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.resume = resume
        self.overwrite = overwrite
        self.done = DoneKeys()
        self._fh: IO[str] | None = None
        self._lock_fh: IO[str] | None = None

    def __enter__(self) -> PredictionWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            exists = self.path.exists() and self.path.stat().st_size > 0
            if exists and not (self.resume or self.overwrite):
                raise ConfigError(
                    f"{self.path} already holds predictions; pass --resume to continue it "
                    "or --overwrite to start again"
                )
            if exists and self.resume:
                _cut_partial_tail(self.path)
                self.done = read_done_keys(self.path)
            mode = "a" if self.resume else "w"
            self._fh = self.path.open(mode, encoding="utf-8")
        except BaseException:
            self._release_lock()
            raise

    def write(self, prediction: Prediction) -> None:
        if self._fh is None:
            raise RuntimeError("writer is not open")
        self._fh.write(prediction.to_json_line())
        self._fh.flush()
        self.done.add(prediction_key(prediction))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        self._release_lock()

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _acquire_lock(self) -> None:
        self._lock_fh = self._lock_path().open("w")
        if fcntl is None:  # pragma: no cover
            return
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self._lock_fh = None
            raise OutputLockedError(
                f"another run is writing {self.path} (locked: {self._lock_path().name}); "
                "wait for it or choose another --out"
            ) from None

    def _release_lock(self) -> None:
        if self._lock_fh is not None:
            # The lock file stays: deleting it would let a waiting run lock a new inode
            # while another already holds the old one.
            if fcntl is not None:
                fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None
