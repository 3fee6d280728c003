"""Read a GGUF file's header (metadata and tensor shapes) without loading its weights.

Only the start of the file is read, so a multi-gigabyte model answers in milliseconds. This
lets the llama.cpp backend pick a chat handler, check that a vision projector fits its
language model and estimate image tokens before llama.cpp touches the files (llama.cpp
reports a bad pairing only as "failed to load").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ethan.errors import ConfigError

_MAGIC = b"GGUF"
#: value type id -> struct format of the scalar types
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
#: arrays longer than this (token lists...) are skipped: only their length is kept
_KEEP_ARRAY = 64


@dataclass
class GGUFHeader:
    """Metadata and tensor shapes (ggml order: ``ne0`` first) of one GGUF file."""

    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def get_int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

    def embedding_width(self) -> int | None:
        """A language model's embedding width (``<arch>.embedding_length``)."""
        return self.get_int(f"{self.architecture}.embedding_length")

    def projector_width(self) -> int | None:
        """The width a vision projector writes: the rows of its last ``mm.N`` layer."""
        layers = []
        for name, shape in self.tensors.items():
            parts = name.split(".")
            if len(parts) == 3 and parts[0] == "mm" and parts[1].isdigit() and parts[2] == "weight":
                layers.append((int(parts[1]), shape))
        if not layers:
            return None
        shape = max(layers)[1]
        return shape[1] if len(shape) >= 2 else None


def read_header(path: str | Path) -> GGUFHeader:
    """Parse the header of the GGUF file at ``path``; a clear error if it is not one."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return _read(handle, path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not a valid GGUF file ({exc})") from None


def _read(handle: BinaryIO, path: Path) -> GGUFHeader:
    if handle.read(4) != _MAGIC:
        raise ValueError("it does not start with the GGUF magic bytes")
    (version,) = struct.unpack("<I", _exact(handle, 4))
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = struct.unpack("<QQ", _exact(handle, 16))
    header = GGUFHeader(path)
    for _ in range(n_kv):
        key = _string(handle)
        (kind,) = struct.unpack("<I", _exact(handle, 4))
        header.metadata[key] = _value(handle, kind)
    for _ in range(n_tensors):
        name = _string(handle)
        (n_dims,) = struct.unpack("<I", _exact(handle, 4))
        dims = struct.unpack(f"<{n_dims}Q", _exact(handle, 8 * n_dims))
        _exact(handle, 12)  # ggml type (u32) and data offset (u64)
        header.tensors[name] = tuple(int(d) for d in dims)
    return header


def _exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return data


def _string(handle: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _exact(handle, 8))
    return _exact(handle, length).decode("utf-8")


def _value(handle: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(handle)
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _exact(handle, struct.calcsize(fmt)))[0]
    if kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", _exact(handle, 12))
        if count > _KEEP_ARRAY:
            _skip_array(handle, item_kind, count)
            return ArrayInfo(count)
        return [_value(handle, item_kind) for _ in range(count)]
    raise ValueError(f"unknown metadata value type {kind}")


def _skip_array(handle: BinaryIO, item_kind: int, count: int) -> None:
    if item_kind in _SCALARS:
        handle.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
    elif item_kind == _STRING:
        for _ in range(count):
            (length,) = struct.unpack("<Q", _exact(handle, 8))
            handle.seek(length, 1)
    else:
        for _ in range(count):
            _value(handle, item_kind)


@dataclass(frozen=True)
class ArrayInfo:
    """Stands for a long array (a vocabulary, merges...) whose items were skipped."""

    length: int
