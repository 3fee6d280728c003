"""Crash safety: a run killed with SIGKILL resumes to the same results, two runs never share an
output file, and the response cache survives corrupt entries and interrupted writes.

Everything here is real: ``ethan locate`` runs as a process against the local replay server
and is killed by signal; the cache is the real SQLite file, written by a process killed in the
middle of a transaction.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ethan import Geolocator, Prediction, ResponseCache, Status
from ethan.errors import OutputLockedError
from ethan.results import PredictionWriter
from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import ReplayCorpus, ReplayServer

IMAGES = STREETVIEW / "images"
ALL_NAMES = sorted(p.name for p in IMAGES.iterdir())


def _ethan(*args: str) -> list[str]:
    exe = shutil.which("ethan", path=str(Path(sys.executable).parent))
    return [*([exe] if exe else [sys.executable, "-m", "ethan"]), *args]


def _start(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``ethan`` with its standard error in ``log`` (a file, so it can never block)."""
    with log.open("wb") as err:
        return subprocess.Popen(
            _ethan(*args),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "COLUMNS": "200"},
        )


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _whole_lines(path: Path) -> list[bytes]:
    """The newline-terminated lines of a file; a torn tail is left out."""
    data = path.read_bytes() if path.exists() else b""
    return data[: data.rfind(b"\n") + 1].splitlines(keepends=True)


def _predictions(path: Path) -> list[Prediction]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "no partial last line"
    return [Prediction.model_validate_json(line) for line in data.splitlines()]


def _outcome(prediction: Prediction) -> tuple[Status, float | None, float | None]:
    return prediction.status, prediction.lat, prediction.lon


@pytest.fixture
def slow_server(corpus: ReplayCorpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus, latency=0.05) as running:
        yield running


def _locate_args(server: ReplayServer, out: Path, *extra: str) -> list[str]:
    return [
        "locate",
        str(IMAGES),
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        "--concurrency",
        "4",
        "--no-cache",
        *extra,
    ]


def test_sigkill_mid_run_then_resume_gives_every_image_once_and_the_same_results(
    corpus: ReplayCorpus, slow_server: ReplayServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    killed = _start(tmp_path / "killed.log", *_locate_args(slow_server, out))
    try:
        _wait_until(lambda: len(_whole_lines(out)) >= 30, "30 finished lines")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    survived = _whole_lines(out)
    before = {Path(p.image).name: p for p in map(Prediction.model_validate_json, survived)}
    assert len(before) == len(survived), "no image twice before the kill"
    assert 30 <= len(before) < len(ALL_NAMES), "killed mid-run"
    # The dead run's lock file is still there; it must not block the resumed run.
    assert out.with_name(out.name + ".lock").exists()

    with ReplayServer(corpus, latency=0.05) as resume_server:
        resumed = run_ethan(*_locate_args(resume_server, out, "--resume"), timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert len(resume_server.requests) == len(ALL_NAMES) - len(before), "only the rest"

    final = _predictions(out)
    assert out.read_bytes().startswith(b"".join(survived)), "finished lines are kept as they were"
    counts = Counter(Path(p.image).name for p in final)
    assert sorted(counts) == ALL_NAMES
    assert set(counts.values()) == {1}, "every image exactly once"

    clean_out = tmp_path / "clean.jsonl"
    with ReplayServer(corpus) as clean_server:
        clean = run_ethan(*_locate_args(clean_server, clean_out), timeout=120)
        assert clean.returncode == 0, clean.stderr
    reference = {Path(p.image).name: _outcome(p) for p in _predictions(clean_out)}
    assert {name: _outcome(p) for name, p in before.items()} == {
        name: reference[name] for name in before
    }, "what was done before the kill equals an uninterrupted run"
    assert {Path(p.image).name: _outcome(p) for p in final} == reference
    assert sum(status is Status.OK for status, _, _ in reference.values()) >= 190


def test_two_runs_on_one_output_the_second_is_refused_the_first_completes(
    slow_server: ReplayServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    slow_server.latency = 0.3  # hold both runs in flight long enough to collide
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    runs = [_start(log, *_locate_args(slow_server, out)) for log in logs]
    try:
        _wait_until(lambda: any(run.poll() is not None for run in runs), "one run to stop")
        [refused] = [run for run in runs if run.poll() is not None]
        [holder] = [run for run in runs if run is not refused]
        refused_err = logs[runs.index(refused)].read_text()
        assert refused.returncode == 2, refused_err
        assert "another run is writing" in refused_err and out.name in refused_err
        # Asking to resume the same file while it is being written is refused as well.
        _wait_until(lambda: len(_whole_lines(out)) >= 1, "the holder's first line")
        resume = run_ethan(*_locate_args(slow_server, out, "--resume"), timeout=120)
        assert resume.returncode == 2, resume.stderr
        assert "another run is writing" in resume.stderr
        assert holder.poll() is None, "the holder was still running during both refusals"
    finally:
        slow_server.latency = 0.0
    assert holder.wait(timeout=120) == 0, logs[runs.index(holder)].read_text()
    final = _predictions(out)
    assert sorted(Path(p.image).name for p in final) == ALL_NAMES, "complete, each image once"
    assert len(slow_server.requests) == len(ALL_NAMES), "the refused runs sent nothing"


def test_lock_holds_when_a_run_ends_while_another_is_taking_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.jsonl"
    first = PredictionWriter(out)
    first.open()
    fcntl = pytest.importorskip("fcntl")
    real_flock = fcntl.flock

    def first_ends_then_lock(fd: int, operation: int) -> None:
        # The second run has opened the lock file; the first finishes before it locks it.
        monkeypatch.setattr(fcntl, "flock", real_flock)
        first.close()
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", first_ends_then_lock)
    second = PredictionWriter(out, resume=True)
    second.open()
    third = PredictionWriter(out, resume=True)
    try:
        with pytest.raises(OutputLockedError):
            third.open()
    finally:
        third.close()
        second.close()


# -- response cache ----------------------------------------------------------------------


def _run_cached(server: ReplayServer, images: list[Path], cache_path: Path) -> list[Prediction]:
    geo = Geolocator(
        "openai",
        model="gpt-4o",
        backend_options={"base_url": server.base_url},
        cache=ResponseCache(cache_path),
    )

    async def go() -> list[Prediction]:
        try:
            return [p async for p in geo.locate_many(images, concurrency=4)]
        finally:
            await geo.aclose()

    return asyncio.run(go())


def test_corrupt_cache_entries_are_ignored_and_recomputed(
    server: ReplayServer, tmp_path: Path
) -> None:
    images = sorted(IMAGES.iterdir())[:4]
    cache_path = tmp_path / "responses.sqlite"
    first = _run_cached(server, images, cache_path)
    assert len(server.requests) == 4
    db = sqlite3.connect(cache_path)
    keys = [row[0] for row in db.execute("SELECT key FROM responses ORDER BY key")]
    valid = db.execute("SELECT output FROM responses WHERE key = ?", (keys[0],)).fetchone()[0]
    corrupt: list[str | bytes] = [
        valid[: len(valid) // 2],  # JSON cut short
        '{"model": "gpt-4o", "choices": 5}',  # JSON of the wrong shape
        b"\x00\xff\xfe binary garbage",  # not even text
    ]
    with db:
        for key, value in zip(keys[:3], corrupt, strict=True):
            db.execute("UPDATE responses SET output = ? WHERE key = ?", (value, key))
    db.close()

    second = _run_cached(server, images, cache_path)
    assert len(server.requests) == 4 + 3, "one new request per corrupt entry, none for the rest"
    assert sorted(p.cached for p in second) == [False, False, False, True]
    assert {p.image: _outcome(p) for p in second} == {p.image: _outcome(p) for p in first}

    third = _run_cached(server, images, cache_path)
    assert len(server.requests) == 7, "the recomputed entries were stored whole"
    assert all(p.cached for p in third)


_BROKEN_WRITER = """
import sys
from ethan.backends.base import Choice, ModelOutput
from ethan.cache import ResponseCache

def output(text):
    return ModelOutput(model="m", choices=[Choice(text=text, finish_reason="stop")])

cache = ResponseCache(sys.argv[1])
cache.put("old", output("the first answer"))
cache.put("kept", output("another answer"))

def hold_before_commit(statement):
    if statement.strip().upper() == "COMMIT":
        print("in transaction", flush=True)
        sys.stdin.read()  # wait here until the parent kills this process

cache._db.set_trace_callback(hold_before_commit)  # the test's only hook into the cache
cache.put(sys.argv[2], output("x" * 8_000_000))  # big: its pages reach the disk pre-commit
print("committed", flush=True)
"""


@pytest.mark.parametrize("key", ["old", "new"], ids=["replacing", "inserting"])
def test_a_write_killed_before_commit_leaves_no_torn_entry(tmp_path: Path, key: str) -> None:
    cache_path = tmp_path / "responses.sqlite"
    wal = tmp_path / "responses.sqlite-wal"
    writer = subprocess.Popen(
        [sys.executable, "-c", _BROKEN_WRITER, str(cache_path), key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "in transaction\n"
        # Most of the uncommitted transaction is on disk already: the kill tears it for real.
        assert wal.stat().st_size > 4_000_000
    finally:
        writer.kill()
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    cache = ResponseCache(cache_path)
    try:
        old = cache.get("old")
        assert old is not None and old.choices[0].text == "the first answer"
        kept = cache.get("kept")
        assert kept is not None and kept.choices[0].text == "another answer"
        assert cache.get("new") is None
        assert len(cache) == 2
    finally:
        cache.close()
    with sqlite3.connect(cache_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _garbage_file(path: Path) -> None:
    path.write_bytes(b"this is not a SQLite database " * 100)


def _damaged_pages(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as fh:  # overwrite the middle of the table's pages
        fh.seek(path.stat().st_size // 2)
        fh.write(os.urandom(4096))


@pytest.mark.parametrize("damage", [_garbage_file, _damaged_pages], ids=["garbage", "pages"])
def test_a_damaged_cache_file_costs_requests_not_the_run(
    server: ReplayServer, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    images = sorted(IMAGES.iterdir())[:12]
    cache_path = tmp_path / "responses.sqlite"
    first = _run_cached(server, images, cache_path)
    damage(cache_path)
    second = _run_cached(server, images, cache_path)
    assert {p.image: _outcome(p) for p in second} == {p.image: _outcome(p) for p in first}
