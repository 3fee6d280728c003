"""A gallery of geo-tagged images for retrieval: embeddings, points, hashes and names on disk.

A gallery is a folder written once by :class:`GalleryWriter` (``ethan gallery build``) and
read by :class:`Gallery`, memory-mapped, so a million rows cost no more memory than the
pages a search touches:

* ``gallery.json`` — format, encoder (its spec and identity), dimension, row count, index;
* ``embeddings.npy`` — ``(n, dim)`` float32, rows scaled to unit length;
* ``points.npy`` — ``(n, 2)`` float64 latitude and longitude;
* ``hashes.npy`` / ``hash_rows.npy`` — the SHA-256 of each image *file* (raw 32 bytes),
  sorted, with the row each belongs to: a query finds its own entries by binary search;
* ``entries.jsonl`` / ``entries.idx.npy`` — one JSON line per row (id, image, name, sha256)
  and the byte offset of each line, so an entry is read without loading the others;
* ``index.faiss`` — optional approximate-nearest-neighbour index (``pip install
  'ethan[ann]'``): ``ivf`` (inverted lists, quick to build) or ``hnsw`` (a graph, slow to
  build); memory-mapped too.

Search is exact by default: a normalised dot product over the memory-mapped rows in chunks of
:data:`CHUNK_BYTES`, keeping a running top-k, so any gallery that fits on disk can be
searched. The least similar rows (negatives) come from the same pass, or from the ANN index
queried with the negated vector (for unit vectors the smallest dot product with ``q`` is the
largest with ``-q``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from ethan.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

FORMAT = 1
CHUNK_BYTES = 64 << 20
"""Embedding bytes multiplied per step of an exact search."""
IndexKind = Literal["ivf", "hnsw"]
SearchMode = Literal["auto", "exact", "ann"]
INDEX_KINDS: tuple[IndexKind, ...] = ("ivf", "hnsw")
_ANN_HINT = "the ANN index needs faiss: pip install 'ethan[ann]' (faiss-cpu)"

F32 = np.ndarray[Any, np.dtype[np.float32]]
F64 = np.ndarray[Any, np.dtype[np.float64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]


class GalleryInfo(BaseModel):
    """What ``gallery.json`` says about a gallery."""

    format: int = FORMAT
    encoder: str = Field(description="the encoder spec, as create_encoder takes it")
    encoder_identity: str = Field(description="what the encoder's embeddings depend on")
    dim: int = Field(ge=1)
    count: int = Field(ge=0)
    index: IndexKind | None = None
    source: str = ""
    created: float = Field(default_factory=time.time)


@dataclass(frozen=True)
class Hit:
    """One gallery entry found by a search."""

    row: int
    similarity: float
    lat: float
    lon: float
    id: str
    image: str
    name: str | None
    sha256: str


@dataclass(frozen=True)
class Found:
    """A query's most similar entries (best first) and least similar (least first)."""

    neighbours: list[Hit]
    negatives: list[Hit]


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError(_ANN_HINT) from None
    return faiss


def normalise(vectors: np.ndarray) -> F32:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.where(norms > 0, norms, 1.0), dtype=np.float32)


# --------------------------------------------------------------------------- writing


class GalleryWriter:
    """Writes a gallery row batch by row batch; nothing appears at ``out`` until
    :meth:`close` has finished (the rows go to a hidden folder beside it first).

    >>> with GalleryWriter(out, dim, encoder="random", encoder_identity=e.identity) as w:
    ...     w.add(vectors, lats, lons, sha256s, ids, images, names)    # doctest: +SKIP
    """

    def __init__(
        self,
        out: str | Path,
        dim: int,
        *,
        encoder: str,
        encoder_identity: str,
        index: IndexKind | None = None,
        overwrite: bool = False,
        source: str = "",
    ) -> None:
        self.out = Path(out)
        if dim < 1:
            raise ConfigError(f"a gallery needs embeddings of dimension 1 or more, got {dim}")
        if index is not None and index not in INDEX_KINDS:
            raise ConfigError(f"unknown index {index!r}; use one of {', '.join(INDEX_KINDS)}")
        if index is not None:
            _faiss()  # fail before any work
        if self.out.exists() and not overwrite:
            raise ConfigError(f"{self.out} exists; pass overwrite=True (--overwrite) to replace it")
        self.dim = dim
        self.info = GalleryInfo(
            encoder=encoder, encoder_identity=encoder_identity, dim=dim, count=0, index=index,
            source=source,
        )  # fmt: skip
        self.overwrite = overwrite
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.with_name(f".{self.out.name}.partial-{os.getpid()}")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        self._raw = (self.tmp / "embeddings.f32").open("wb")
        self._entries = (self.tmp / "entries.jsonl").open("wb")
        self._offsets = array("q", [0])
        self._points: list[F64] = []
        self._hashes = bytearray()  # 32 bytes a row
        self._count = 0
        self._closed = False

    def __enter__(self) -> GalleryWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def count(self) -> int:
        return self._count

    def add(
        self,
        vectors: np.ndarray,
        lats: Sequence[float] | np.ndarray,
        lons: Sequence[float] | np.ndarray,
        sha256s: Sequence[str],
        ids: Sequence[str],
        images: Sequence[str] | None = None,
        names: Sequence[str | None] | None = None,
    ) -> None:
        """Append rows (normalised here)."""
        rows = normalise(vectors)
        m = rows.shape[0]
        if rows.shape[1] != self.dim:
            raise ConfigError(f"embeddings of dimension {rows.shape[1]}, gallery has {self.dim}")
        la, lo = np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64)
        columns = [la.size, lo.size, len(sha256s), len(ids)]
        columns += [len(images)] if images is not None else []
        columns += [len(names)] if names is not None else []
        if any(size != m for size in columns):
            raise ConfigError(f"{m} embeddings but columns of lengths {columns}")
        if not (np.all(np.abs(la) <= 90) and np.all(np.abs(lo) <= 180)):
            raise ConfigError("gallery coordinates must be within -90..90 and -180..180")
        self._raw.write(rows.tobytes())
        self._points.append(np.stack([la, lo], axis=1))
        lines = []
        for i in range(m):
            digest = sha256s[i]
            try:
                raw = bytes.fromhex(digest)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ConfigError(f"not a SHA-256 hex digest: {digest!r}")
            self._hashes += raw
            entry = {
                "id": ids[i],
                "image": images[i] if images is not None else "",
                "name": names[i] if names is not None else None,
                "sha256": digest,
            }
            line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
            lines.append(line)
            self._offsets.append(self._offsets[-1] + len(line))
        self._entries.write(b"".join(lines))
        self._count += m

    def close(self) -> Path:
        """Finish the files, build the index if asked, and move the gallery into place."""
        if self._closed:
            return self.out
        self._raw.close()
        self._entries.close()
        n = self.count
        shape = (n, self.dim)
        raw = np.memmap(self.tmp / "embeddings.f32", dtype=np.float32, mode="r", shape=shape)
        target = np.lib.format.open_memmap(
            self.tmp / "embeddings.npy", mode="w+", dtype=np.float32, shape=(n, self.dim)
        )
        step = _chunk_rows(self.dim)
        for start in range(0, n, step):
            target[start : start + step] = raw[start : start + step]
        target.flush()
        del target, raw
        (self.tmp / "embeddings.f32").unlink()
        points = np.concatenate(self._points) if self._points else np.zeros((0, 2))
        np.save(self.tmp / "points.npy", points.astype(np.float64))
        hashes = np.frombuffer(bytes(self._hashes), dtype="S32")
        self._hashes = bytearray()
        order = np.argsort(hashes, kind="stable").astype(np.int64)
        np.save(self.tmp / "hashes.npy", hashes[order])
        np.save(self.tmp / "hash_rows.npy", order)
        np.save(self.tmp / "entries.idx.npy", np.frombuffer(self._offsets, dtype=np.int64))
        if self.info.index is not None and n:
            vectors = np.load(self.tmp / "embeddings.npy", mmap_mode="r")
            build_index(vectors, self.info.index, self.tmp / "index.faiss")
        info = self.info.model_copy(update={"count": n, "created": time.time()})
        if info.index is not None and not n:
            info = info.model_copy(update={"index": None})
        (self.tmp / "gallery.json").write_text(info.model_dump_json(indent=2) + "\n")
        self._move_into_place()
        self._closed = True
        return self.out

    def _move_into_place(self) -> None:
        old = None
        if self.out.exists():
            if not self.overwrite:
                raise ConfigError(f"{self.out} appeared while the gallery was being built")
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            self.out.rename(old)
        self.tmp.rename(self.out)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() else old.unlink()

    def abort(self) -> None:
        """Drop everything written so far (``out`` is left as it was)."""
        for handle in (self._raw, self._entries):
            handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._closed = True


def _chunk_rows(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * dim))


def build_index(vectors: np.ndarray, kind: IndexKind, path: str | Path) -> None:
    """Build and save a faiss inner-product index over unit rows (read in chunks)."""
    faiss = _faiss()
    n, dim = vectors.shape
    if kind == "ivf":
        nlist = max(1, min(int(np.sqrt(n)), n // 39 or 1))
        index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    step = _chunk_rows(dim)
    for start in range(0, n, step):
        index.add(np.ascontiguousarray(vectors[start : start + step], dtype=np.float32))
    faiss.write_index(index, str(path))


# --------------------------------------------------------------------------- reading


class Gallery:
    """A gallery folder opened for search (arrays memory-mapped, read-only).

    ``search="auto"`` uses the ANN index when the gallery has one and faiss is installed,
    else the exact search; ``"exact"`` always scans; ``"ann"`` requires the index.
    """

    def __init__(self, path: str | Path, *, search: SearchMode = "auto", nprobe: int = 32) -> None:
        self.path = Path(path)
        meta = self.path / "gallery.json"
        if not meta.is_file():
            raise ConfigError(f"not a gallery (no gallery.json): {self.path}")
        try:
            self.info = GalleryInfo.model_validate_json(meta.read_text(encoding="utf-8"))
            self.vectors: F32 = np.load(self.path / "embeddings.npy", mmap_mode="r")
            self.points: F64 = np.load(self.path / "points.npy", mmap_mode="r")
            self._hashes = np.load(self.path / "hashes.npy", mmap_mode="r")
            self._hash_rows: I64 = np.load(self.path / "hash_rows.npy", mmap_mode="r")
            self._offsets: I64 = np.load(self.path / "entries.idx.npy", mmap_mode="r")
            self._entries = os.open(self.path / "entries.jsonl", os.O_RDONLY)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read gallery {self.path}: {exc}") from None
        if self.info.format != FORMAT:
            raise ConfigError(f"{self.path}: gallery format {self.info.format}, expected {FORMAT}")
        n = self.info.count
        shapes = (self.vectors.shape, self.points.shape, self._hashes.shape, self._offsets.shape)
        if shapes != ((n, self.info.dim), (n, 2), (n,), (n + 1,)):
            raise ConfigError(f"{self.path}: files disagree on the row count ({shapes})")
        self.nprobe = nprobe
        self._index: Any = None
        if search == "exact" or self.info.index is None:
            if search == "ann":
                raise ConfigError(f"{self.path} has no ANN index; build it with --index ivf")
            return
        try:
            faiss = _faiss()
        except MissingDependencyError:
            if search == "ann":
                raise
            log.warning("%s has an ANN index but faiss is not installed: exact search", path)
            return
        try:  # memory-mapped like the embeddings (faiss supports it for IVF and HNSW)
            self._index = faiss.read_index(str(self.path / "index.faiss"), faiss.IO_FLAG_MMAP)
        except RuntimeError:
            self._index = faiss.read_index(str(self.path / "index.faiss"))

    def __len__(self) -> int:
        return self.info.count

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def uses_index(self) -> bool:
        return self._index is not None

    def close(self) -> None:
        if self._entries >= 0:
            os.close(self._entries)
            self._entries = -1

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows_with_hash(self, sha256: str) -> list[int]:
        """Rows whose image file has this SHA-256 (binary search over the sorted hashes)."""
        try:
            key = np.bytes_(bytes.fromhex(sha256))
        except ValueError:
            return []
        lo = int(np.searchsorted(self._hashes, key, side="left"))
        hi = int(np.searchsorted(self._hashes, key, side="right"))
        return sorted(int(r) for r in self._hash_rows[lo:hi])

    def entry(self, row: int, similarity: float = float("nan")) -> Hit:
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        data = json.loads(os.pread(self._entries, end - start, start))
        lat, lon = (float(v) for v in self.points[row])
        return Hit(
            row=row, similarity=similarity, lat=lat, lon=lon, id=str(data.get("id", "")),
            image=str(data.get("image", "")), name=data.get("name") or None,
            sha256=str(data.get("sha256", "")),
        )  # fmt: skip

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        negatives: int = 0,
        exclude: Sequence[Sequence[int]] | None = None,
    ) -> list[Found]:
        """For each query row: its ``k`` most similar entries and ``negatives`` least
        similar, never a row listed for it in ``exclude``."""
        if k < 0 or negatives < 0:
            raise ConfigError("k and negatives must be 0 or more")
        q = normalise(queries)
        if q.shape[1] != self.dim:
            raise ConfigError(f"query of dimension {q.shape[1]}, gallery has {self.dim}")
        skip = [set(e) for e in exclude] if exclude is not None else [set() for _ in q]
        if len(skip) != q.shape[0]:
            raise ConfigError(f"{q.shape[0]} queries but {len(skip)} exclusion lists")
        extra = max((len(s) for s in skip), default=0)
        if self._index is not None:
            top = self._ann(q, k + extra)
            bottom = self._ann(-q, negatives + extra)
            bottom = (-bottom[0], bottom[1])
        else:
            top, bottom = self.exact(q, k + extra, negatives + extra)
        out = []
        for i in range(q.shape[0]):
            near = _pick(top[0][i], top[1][i], skip[i], k, descending=True)
            far = _pick(bottom[0][i], bottom[1][i], skip[i], negatives, descending=False)
            out.append(
                Found(
                    neighbours=[self.entry(r, s) for r, s in near],
                    negatives=[self.entry(r, s) for r, s in far],
                )
            )
        return out

    def exact(self, q: F32, k: int, negatives: int) -> tuple[tuple[F32, I64], tuple[F32, I64]]:
        """(scores, rows) of the top ``k`` and of the bottom ``negatives`` of unit queries,
        by a chunked scan (unsorted; rows -1 pad when the gallery is smaller)."""
        n, b = len(self), q.shape[0]
        kt, kb = min(k, n), min(negatives, n)
        best = (np.zeros((b, 0), np.float32), np.zeros((b, 0), np.int64))
        worst = (np.zeros((b, 0), np.float32), np.zeros((b, 0), np.int64))
        step = _chunk_rows(self.dim)
        for start in range(0, n if kt or kb else 0, step):
            block = np.asarray(self.vectors[start : start + step])
            scores = q @ block.T
            if kt:
                best = _merge(best, scores, start, kt)
            if kb:
                worst = _merge(worst, -scores, start, kb)
        return best, (-worst[0], worst[1])

    def _ann(self, q: F32, k: int) -> tuple[F32, I64]:
        if k <= 0:
            return np.zeros((q.shape[0], 0), np.float32), np.zeros((q.shape[0], 0), np.int64)
        index = self._index
        if hasattr(index, "nprobe"):
            index.nprobe = self.nprobe
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = max(128, 4 * k)
        scores, rows = index.search(np.ascontiguousarray(q), min(k, len(self)))
        return np.asarray(scores, np.float32), np.asarray(rows, np.int64)


def _merge(current: tuple[F32, I64], scores: F32, offset: int, k: int) -> tuple[F32, I64]:
    """The ``k`` largest of the current best and a new block of scores (per row)."""
    width = scores.shape[1]
    take = min(k, width)
    if take < width:
        idx = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    else:
        idx = np.broadcast_to(np.arange(width), scores.shape)
    s = np.concatenate([current[0], np.take_along_axis(scores, idx, axis=1)], axis=1)
    r = np.concatenate([current[1], idx.astype(np.int64) + offset], axis=1)
    if s.shape[1] > k:
        keep = np.argpartition(-s, k - 1, axis=1)[:, :k]
        s, r = np.take_along_axis(s, keep, axis=1), np.take_along_axis(r, keep, axis=1)
    return s, r


def _pick(
    scores: np.ndarray, rows: np.ndarray, skip: set[int], k: int, *, descending: bool
) -> list[tuple[int, float]]:
    """Up to ``k`` (row, score) pairs in rank order (ties by row), without skipped rows."""
    pairs = [(int(r), float(s)) for r, s in zip(rows, scores, strict=True) if r >= 0]
    sign = -1.0 if descending else 1.0
    pairs.sort(key=lambda p: (sign * p[1], p[0]))
    return [p for p in pairs if p[0] not in skip][:k]
