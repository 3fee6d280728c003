"""Compact lookup tables of the compiled gazetteer, stored as binary arrays.

Loading the index must stay well under half a second for ~700,000 name keys and ~33,000
districts: nested JSON lists and dicts of that size take several times longer to parse and
build than a few base64 arrays. Keys of the large alternate-name table live in one sorted
fixed-width byte array searched by bisection (a few microseconds a lookup) rather than in a
dict of half a million entries.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def b64(values: np.ndarray[Any, Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def unb64(text: str, dtype: str) -> np.ndarray[Any, Any]:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


@dataclass(frozen=True)
class Area:
    """A country, region, district or continent with its representative points."""

    code: str
    name: str
    lat: float  # population-weighted medoid of its towns
    lon: float
    centroid_lat: float | None = None  # geometric centre
    centroid_lon: float | None = None
    population: int = 0  # of its towns in the index

    def point(self, mode: str = "medoid") -> tuple[float, float]:
        if mode == "centroid" and self.centroid_lat is not None and self.centroid_lon is not None:
            return self.centroid_lat, self.centroid_lon
        return self.lat, self.lon

    def to_json(self) -> list[Any]:
        c_lat, c_lon = self.centroid_lat, self.centroid_lon
        return [self.name, self.lat, self.lon, c_lat, c_lon, self.population]

    @classmethod
    def from_json(cls, code: str, v: list[Any]) -> Area:
        return cls(code, str(v[0]), float(v[1]), float(v[2]), v[3], v[4], int(v[5]))


class KeyTable:
    """Name key -> rows, largest town first. A key with one row stores that row; a key with
    several stores ``-(1 + offset)`` into one flat array holding ``count, row, row...``.

    Keys live in a dict, or (``packed``) in a sorted fixed-width byte array, with the few
    keys longer than :data:`WIDTH` bytes in a dict."""

    WIDTH = 32

    def __init__(
        self,
        slots: dict[str, int],
        multi: np.ndarray[Any, Any],
        sorted_keys: np.ndarray[Any, Any] | None = None,
        sorted_slots: np.ndarray[Any, Any] | None = None,
    ) -> None:
        self._slots = slots
        self._multi = multi
        self._sorted = sorted_keys
        self._sorted_slots = sorted_slots

    @classmethod
    def build(cls, keys: Mapping[str, list[int]], *, packed: bool = False) -> KeyTable:
        slots: dict[str, int] = {}
        multi: list[int] = []
        for key, rows in keys.items():
            if len(rows) == 1:
                slots[key] = rows[0]
            else:
                slots[key] = -(1 + len(multi))
                multi.append(len(rows))
                multi.extend(rows)
        flat = np.asarray(multi, dtype=np.int32)
        if not packed:
            return cls(slots, flat)
        short = sorted(
            (k.encode("utf-8"), v) for k, v in slots.items() if 0 < len(k.encode()) <= cls.WIDTH
        )
        long = {k: v for k, v in slots.items() if len(k.encode()) > cls.WIDTH}
        return cls(
            long,
            flat,
            np.asarray([k for k, _ in short], dtype=f"S{cls.WIDTH}"),
            np.asarray([v for _, v in short], dtype=np.int32),
        )

    def _decode(self, slot: int) -> list[int]:
        if slot >= 0:
            return [slot]
        start = -slot  # == offset + 1: the first row after the count
        rows: list[int] = self._multi[start : start + int(self._multi[start - 1])].tolist()
        return rows

    def _slot(self, key: str) -> int | None:
        slot = self._slots.get(key)
        if slot is not None or self._sorted is None or self._sorted_slots is None:
            return slot
        raw = key.encode("utf-8")
        if not raw or len(raw) > self.WIDTH:
            return None
        i = int(np.searchsorted(self._sorted, raw))
        if i < self._sorted.size and self._sorted[i] == raw:
            return int(self._sorted_slots[i])
        return None

    def get(self, key: str) -> list[int]:
        """The rows under ``key`` (empty when it is unknown)."""
        slot = self._slot(key)
        return [] if slot is None else self._decode(slot)

    def items(self) -> Iterator[tuple[str, list[int]]]:
        for key, slot in self._slots.items():
            yield key, self._decode(slot)
        if self._sorted is not None and self._sorted_slots is not None:
            for raw, slot in zip(self._sorted.tolist(), self._sorted_slots.tolist(), strict=True):
                yield raw.decode("utf-8"), self._decode(slot)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._slot(key) is not None

    def __len__(self) -> int:
        return len(self._slots) + (0 if self._sorted is None else int(self._sorted.size))

    def to_json(self) -> list[str]:
        values = np.asarray(list(self._slots.values()), dtype="<i4")
        out = ["\n".join(self._slots), b64(values), b64(self._multi.astype("<i4"))]
        if self._sorted is not None and self._sorted_slots is not None:
            out += [b64(self._sorted), b64(self._sorted_slots.astype("<i4"))]
        return out

    @classmethod
    def from_json(cls, packed: list[str]) -> KeyTable:
        names, slots, multi = packed[:3]
        values = unb64(slots, "<i4").tolist()
        keys = names.split("\n") if names else []
        flat = unb64(multi, "<i4").astype(np.int32)
        sorted_keys = sorted_slots = None
        if len(packed) == 5:
            sorted_keys = unb64(packed[3], f"S{cls.WIDTH}")
            sorted_slots = unb64(packed[4], "<i4")
        return cls(dict(zip(keys, values, strict=True)), flat, sorted_keys, sorted_slots)


class AreaTable(Mapping[str, Area]):
    """Areas as columns, made into :class:`Area` on access."""

    def __init__(self, areas: Mapping[str, Area]) -> None:
        self._keys = list(areas)
        self._pos = {k: i for i, k in enumerate(self._keys)}
        self._names = [a.name for a in areas.values()]
        nan = float("nan")
        rows = [
            [
                a.lat,
                a.lon,
                nan if a.centroid_lat is None else a.centroid_lat,
                nan if a.centroid_lon is None else a.centroid_lon,
                float(a.population),
            ]
            for a in areas.values()
        ]
        self._cols = np.asarray(rows, dtype="<f8").reshape(-1, 5)

    def __getitem__(self, key: str) -> Area:
        i = self._pos[key]
        lat, lon, c_lat, c_lon, pop = self._cols[i].tolist()
        has_centroid = c_lat == c_lat and c_lon == c_lon  # NaN: none
        return Area(
            key,
            self._names[i],
            lat,
            lon,
            c_lat if has_centroid else None,
            c_lon if has_centroid else None,
            int(pop),
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def to_json(self) -> dict[str, str]:
        return {
            "keys": "\n".join(self._keys),
            "names": "\n".join(self._names),
            "cols": b64(self._cols),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> AreaTable:
        table = cls({})
        table._keys = data["keys"].split("\n") if data["keys"] else []
        table._pos = {k: i for i, k in enumerate(table._keys)}
        table._names = data["names"].split("\n") if data["keys"] else []
        table._cols = unb64(data["cols"], "<f8").reshape(-1, 5)
        return table


class CodeTable:
    """Folded name -> area keys ("MX.23.008"), packed like :class:`KeyTable`."""

    def __init__(self, names: Mapping[str, list[str]], codes: list[str] | None = None) -> None:
        self._codes = codes if codes is not None else sorted({c for v in names.values() for c in v})
        pos = {c: i for i, c in enumerate(self._codes)}
        self._table = KeyTable.build({k: [pos[c] for c in v] for k, v in names.items()})

    def get(self, key: str, default: Iterable[str] = ()) -> list[str]:
        found = self._table.get(key)
        return [self._codes[i] for i in found] if found else list(default)

    def __len__(self) -> int:
        return len(self._table)

    def to_json(self) -> dict[str, Any]:
        return {"codes": "\n".join(self._codes), "table": self._table.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CodeTable:
        table = cls({}, data["codes"].split("\n") if data["codes"] else [])
        table._table = KeyTable.from_json(data["table"])
        return table
