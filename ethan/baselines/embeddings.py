"""Image embeddings for the classifier: pluggable encoders, a cache, precomputed files.

An encoder is named by a spec string (:func:`create_encoder`):

* ``random[:DIM[:SEED]]`` — a small convolutional network with seeded random weights.
  Its embeddings carry no geographic knowledge; it exercises the whole path offline;
* ``open_clip:MODEL[@PRETRAINED]`` — an ``open_clip`` model (``pip install
  open_clip_torch``); PRETRAINED is a tag such as ``laion2b_s34b_b79k`` or a local
  checkpoint file;
* ``hf:NAME_OR_FOLDER`` — a CLIP vision tower through ``transformers``; the aliases
  ``clip`` (``openai/clip-vit-large-patch14``) and ``streetclip`` (``geolocal/StreetCLIP``,
  the encoder PIGEON starts from) expand to it.

Weights come from the model hubs on first use; offline, loading fails with a
:class:`WeightsUnavailableError` that says what to do. Embeddings are cached in SQLite under
the user cache folder, keyed by the encoder's identity and the image file's SHA-256, so a
second run encodes nothing. Precomputed embeddings are a ``.npy`` matrix plus a manifest
CSV (``id,image``) naming its rows (:func:`write_embeddings`, :class:`PrecomputedEmbeddings`).
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from ethan.baselines.errors import WeightsUnavailableError, missing_torch
from ethan.errors import ConfigError, EthanError, ImageError, MissingDependencyError
from ethan.images import file_sha256

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_torch() from exc

F32 = np.ndarray[Any, np.dtype[np.float32]]
ALIASES = {"clip": "hf:openai/clip-vit-large-patch14", "streetclip": "hf:geolocal/StreetCLIP"}
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class Encoder(Protocol):
    """Turns RGB images into embedding rows."""

    @property
    def identity(self) -> str:
        """Everything that changes the embeddings (part of the cache key)."""
        ...

    def encode(self, images: Sequence[Image.Image]) -> F32:
        """(len(images), dim) float32."""
        ...


def load_rgb(path: str | Path | bytes, max_side: int = 512) -> Image.Image:
    """The photo upright, in RGB, no larger than ``max_side`` on its longer side (from a
    file, or from the file's bytes)."""
    label = "<bytes>" if isinstance(path, bytes) else str(path)
    try:
        with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
            rgb: Image.Image = ImageOps.exif_transpose(img).convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{label}: cannot read image: {exc}") from None
    rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return rgb


def _to_tensor(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    arrays = [
        np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        for img in images
    ]
    x = torch.from_numpy(np.stack(arrays).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(_CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class RandomEncoder:
    """A small CNN with seeded random weights: meaningless features, real code path."""

    def __init__(self, dim: int = 64, seed: int = 0, size: int = 96) -> None:
        if dim < 1 or size < 16:
            raise ConfigError("the random encoder needs dim >= 1 and size >= 16")
        self.dim, self.seed, self.size = dim, seed, size
        generator = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, dim),
        )  # fmt: skip
        with torch.no_grad():
            for param in self.net.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
        self.net.eval()

    @property
    def identity(self) -> str:
        return f"random:{self.dim}:{self.seed}:{self.size}"

    def encode(self, images: Sequence[Image.Image]) -> F32:
        with torch.no_grad():
            out = self.net(_to_tensor(images, self.size))
        return np.asarray(out.numpy(), dtype=np.float32)


class OpenCLIPEncoder:
    """An ``open_clip`` image tower (CLIP, StreetCLIP ports, ...)."""

    def __init__(self, model: str, pretrained: str | None = None, device: str = "cpu") -> None:
        try:
            import open_clip
        except ImportError:
            raise MissingDependencyError(
                "the open_clip encoder needs open_clip: pip install open_clip_torch"
            ) from None
        self.model_name, self.pretrained, self.device = model, pretrained, device
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                model, pretrained=pretrained, device=device
            )
        except Exception as exc:
            what = f"open_clip model {model} ({pretrained or 'no weights'})"
            raise _unavailable(what, exc) from exc
        self.model.eval()

    @property
    def identity(self) -> str:
        return f"open_clip:{self.model_name}@{self.pretrained}"

    def encode(self, images: Sequence[Image.Image]) -> F32:
        batch = torch.stack([self.preprocess(img) for img in images]).to(self.device)
        with torch.no_grad():
            out = self.model.encode_image(batch)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


class HFCLIPEncoder:
    """A CLIP vision tower through ``transformers`` (e.g. ``geolocal/StreetCLIP``)."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        try:
            from transformers import CLIPModel, CLIPProcessor
        except ImportError:
            raise MissingDependencyError(
                "the hf encoder needs transformers: pip install transformers"
            ) from None
        self.name, self.device = name, device
        try:
            self.model = CLIPModel.from_pretrained(name).to(device)
            self.processor = CLIPProcessor.from_pretrained(name)
        except Exception as exc:
            raise _unavailable(f"CLIP model {name}", exc) from exc
        self.model.eval()

    @property
    def identity(self) -> str:
        return f"hf:{self.name}"

    def encode(self, images: Sequence[Image.Image]) -> F32:
        inputs = self.processor(images=list(images), return_tensors="pt").to(self.device)
        with torch.no_grad():
            out = self.model.get_image_features(**inputs)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


def _unavailable(what: str, exc: BaseException) -> WeightsUnavailableError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WeightsUnavailableError(
        f"could not load the weights of {what}: {reason[:300]}. Weights are downloaded on "
        "first use, which needs the model hub: offline, pass a local checkpoint "
        "(open_clip:MODEL@/path/ckpt.pt, hf:/path/to/folder), or train and predict from "
        "precomputed embeddings (--embeddings FILE.npy)"
    )


def create_encoder(spec: str, *, device: str = "cpu") -> Encoder:
    """An encoder from its spec (see the module docstring)."""
    spec = ALIASES.get(spec.strip().lower(), spec.strip())
    kind, _, rest = spec.partition(":")
    if kind == "random":
        parts = [p for p in rest.split(":") if p] if rest else []
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"random encoder spec is random[:DIM[:SEED]], got {spec!r}") from None
        return RandomEncoder(*numbers[:2])
    if kind == "open_clip" and rest:
        model, _, pretrained = rest.partition("@")
        return OpenCLIPEncoder(model, pretrained or None, device=device)
    if kind == "hf" and rest:
        return HFCLIPEncoder(rest, device=device)
    raise ConfigError(
        f"unknown encoder {spec!r}: use random[:DIM[:SEED]], open_clip:MODEL[@PRETRAINED], "
        "hf:NAME_OR_FOLDER, clip or streetclip"
    )


class EmbeddingCache:
    """SQLite store of embeddings keyed by encoder identity and image content."""

    def __init__(self, path: str | Path | None = None) -> None:
        from ethan.paths import user_cache_dir

        self.path = Path(path) if path is not None else user_cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB)"
            )

    @staticmethod
    def key(identity: str, sha256: str) -> str:
        return hashlib.sha256(f"{identity}\n{sha256}".encode()).hexdigest()

    def get(self, key: str) -> F32 | None:
        with self._lock:
            row = self._db.execute("SELECT vector FROM embeddings WHERE key = ?", (key,)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()

    def put(self, key: str, vector: F32) -> None:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", (key, blob))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class Embedded:
    """Embeddings of a list of images: row i is image i (zeros where ``errors`` has i);
    ``digests`` holds the SHA-256 of each image file that could be read."""

    vectors: F32
    errors: dict[int, str] = field(default_factory=dict)
    encoded: int = 0
    cached: int = 0
    digests: dict[int, str] = field(default_factory=dict)


def embed_images(
    paths: Sequence[str | Path],
    encoder: Encoder,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> Embedded:
    """Embed image files, reading the cache first; unreadable images are reported, not
    raised. ``on_batch(n)`` is called as images are done."""
    rows: dict[int, F32] = {}
    errors: dict[int, str] = {}
    todo: list[tuple[int, str]] = []  # (index, cache key)
    digests: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            digest = file_sha256(path)
        except (OSError, EthanError) as exc:
            errors[i] = str(exc)
            continue
        digests[i] = digest
        key = EmbeddingCache.key(encoder.identity, digest)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            rows[i] = hit
        else:
            todo.append((i, key))
    cached = len(rows)
    if on_batch is not None and cached + len(errors):
        on_batch(cached + len(errors))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        images, kept = [], []
        for i, key in batch:
            try:
                images.append(load_rgb(paths[i]))
                kept.append((i, key))
            except EthanError as exc:
                errors[i] = str(exc)
        if images:
            out = encoder.encode(images)
            for (i, key), vector in zip(kept, out, strict=True):
                rows[i] = vector
                if cache is not None:
                    cache.put(key, vector)
        if on_batch is not None:
            on_batch(len(batch))
    dim = next(iter(rows.values())).size if rows else 0
    vectors = np.zeros((len(paths), dim), dtype=np.float32)
    for i, vector in rows.items():
        vectors[i] = vector
    return Embedded(vectors, errors, encoded=len(rows) - cached, cached=cached, digests=digests)


def manifest_path(npy: str | Path) -> Path:
    """The manifest beside an embeddings file: ``x.npy`` → ``x.ids.csv``."""
    path = Path(npy)
    return path.with_name(path.stem + ".ids.csv")


def write_embeddings(
    path: str | Path, ids: Sequence[str], images: Sequence[str], vectors: np.ndarray
) -> Path:
    """Write ``vectors`` as a ``.npy`` and its manifest (``id,image`` per row)."""
    import csv

    target = Path(path)
    if len(ids) != vectors.shape[0] or len(images) != vectors.shape[0]:
        raise ConfigError(f"{vectors.shape[0]} vectors for {len(ids)} ids")
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, np.asarray(vectors, dtype=np.float32))
    with manifest_path(target).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image"])
        writer.writerows(zip(ids, images, strict=True))
    return target


class PrecomputedEmbeddings:
    """A ``.npy`` matrix and its manifest, looked up by id, file name or stem."""

    def __init__(self, npy: str | Path, manifest: str | Path | None = None) -> None:
        import csv

        self.path = Path(npy)
        source = Path(manifest) if manifest is not None else manifest_path(self.path)
        try:
            self.vectors: F32 = np.asarray(np.load(self.path), dtype=np.float32)
            with source.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read precomputed embeddings {self.path}: {exc}") from None
        if self.vectors.ndim != 2 or len(rows) != self.vectors.shape[0]:
            raise ConfigError(
                f"{self.path} has {self.vectors.shape[0]} rows but {source} lists {len(rows)}"
            )
        self.index: dict[str, int] = {}
        for i, row in enumerate(rows):
            for value in (row.get("id"), row.get("image")):
                if value:
                    for key in (value, Path(value).name, Path(value).stem):
                        self.index.setdefault(key, i)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def lookup(self, keys: Sequence[Sequence[str]]) -> Embedded:
        """Rows for items, each given by candidate keys (id, file name...) tried in order."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        errors: dict[int, str] = {}
        for i, candidates in enumerate(keys):
            row = next((self.index[k] for k in candidates if k in self.index), None)
            if row is None:
                errors[i] = f"no precomputed embedding for {candidates[0]!r} in {self.path}"
            else:
                out[i] = self.vectors[row]
        return Embedded(out, errors, cached=len(keys) - len(errors))
