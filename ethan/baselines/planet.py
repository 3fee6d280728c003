"""PlaNet's adaptive S2 geocells (Weyand et al., 2016), built from the training points.

Starting from the S2 cells at ``min_level`` that hold points, any cell holding more than
``max_count`` points is split into its four children, recursively, down to ``max_level``.
A cell left with fewer than ``min_count`` points is then either

* ``small="drop"`` — dropped, as PlaNet does: its points belong to no cell (label -1); or
* ``small="merge"`` — pooled with its small siblings, and the pool with its parent's other
  small descendants, until the pool reaches ``min_count`` and becomes a cell (a union of
  S2 cells inside one ancestor). What is left at the top joins the nearest cell with room.

With ``small="merge"`` every point is in exactly one cell and every cell holds between
``min_count`` and ``max_count`` points, given ``max_count >= 4 * min_count`` (a pool holds
fewer than ``min_count`` points from each of at most four children). The exceptions: an S2
cell at ``max_level`` that still holds more than ``max_count`` points (a spot photographed
that often), and top-level leftovers when no cell has room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ethan.baselines import s2
from ethan.baselines.geocells import Cell, IntArray, Partition, spherical_mean
from ethan.errors import ConfigError
from ethan.geo import FloatArray, haversine_km

Small = Literal["merge", "drop"]


@dataclass
class _Group:
    ids: list[int] = field(default_factory=list)
    rows: list[NDArray[np.intp]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(r.size for r in self.rows)

    def absorb(self, other: _Group) -> None:
        self.ids.extend(other.ids)
        self.rows.extend(other.rows)

    def members(self) -> NDArray[np.intp]:
        return np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.intp)


@dataclass
class _Builder:
    leaves: s2.U64
    max_count: int
    min_count: int
    small: Small
    max_level: int
    cells: list[_Group] = field(default_factory=list)

    def build(self, node: int, rows: NDArray[np.intp], level: int) -> _Group | None:
        """Emit the cells under ``node``; return its pool of small leftovers (or None)."""
        if rows.size <= self.max_count or level >= self.max_level:
            group = _Group([node], [rows])
            if rows.size >= self.min_count:
                self.cells.append(group)
                return None
            return group
        kids = s2.parents(self.leaves[rows], level + 1)
        order = np.argsort(kids, kind="stable")
        keys, starts = np.unique(kids[order], return_index=True)
        bounds = [*starts.tolist(), order.size]
        pool = _Group()
        for k, key in enumerate(keys.tolist()):
            leftover = self.build(int(key), rows[order[bounds[k] : bounds[k + 1]]], level + 1)
            if leftover is not None:
                pool.absorb(leftover)
        if not pool.ids:
            return None
        if self.small == "merge" and pool.count >= self.min_count:
            self.cells.append(pool)
            return None
        return pool


def s2_partition(
    lats: FloatArray,
    lons: FloatArray,
    *,
    max_count: int = 1000,
    min_count: int = 50,
    small: Small = "merge",
    min_level: int = 0,
    max_level: int = s2.MAX_LEVEL,
) -> tuple[Partition, IntArray]:
    """Adaptive S2 geocells of the points and each point's cell (-1: in a dropped cell)."""
    _check(max_count, min_count, small, min_level, max_level)
    leaves = s2.leaf_ids(lats, lons)
    builder = _Builder(leaves, max_count, min_count, small, max_level)
    roots = s2.parents(leaves, min_level)
    order = np.argsort(roots, kind="stable")
    keys, starts = np.unique(roots[order], return_index=True)
    bounds = [*starts.tolist(), order.size]
    leftovers: list[_Group] = []
    for k, key in enumerate(keys.tolist()):
        pool = builder.build(int(key), order[bounds[k] : bounds[k + 1]].astype(np.intp), min_level)
        if pool is not None:
            leftovers.append(pool)
    groups = builder.cells
    if small == "merge" and leftovers:
        _place_leftovers(groups, leftovers, lats, lons, max_count)
    labels = np.full(lats.size, -1, dtype=np.int64)
    cells: list[Cell] = []
    for index, group in enumerate(groups):
        rows = group.members()
        labels[rows] = index
        lat, lon = spherical_mean(lats[rows], lons[rows])
        tokens = sorted(s2.to_token(i) for i in group.ids)
        cells.append(Cell(name=_name(group.ids), lat=lat, lon=lon, count=rows.size, tokens=tokens))
    params = {
        "max_count": max_count,
        "min_count": min_count,
        "small": small,
        "min_level": min_level,
        "max_level": max_level,
        "points": int(lats.size),
        "dropped": int((labels < 0).sum()),
    }
    return Partition(kind="s2", params=params, cells=cells), labels


def _check(max_count: int, min_count: int, small: str, min_level: int, max_level: int) -> None:
    if min_count < 1 or max_count < 1:
        raise ConfigError("max_count and min_count must be at least 1")
    if small not in ("merge", "drop"):
        raise ConfigError(f"small cells are merged or dropped, not {small!r}")
    if small == "merge" and max_count < 4 * min_count:
        raise ConfigError(
            f"merging small S2 cells needs max_count >= 4 * min_count "
            f"(got {max_count} and {min_count})"
        )
    if small == "drop" and max_count < min_count:
        raise ConfigError(f"max_count ({max_count}) is below min_count ({min_count})")
    if not 0 <= min_level <= max_level <= s2.MAX_LEVEL:
        raise ConfigError("S2 levels must satisfy 0 <= min_level <= max_level <= 30")


def _place_leftovers(
    groups: list[_Group],
    leftovers: list[_Group],
    lats: FloatArray,
    lons: FloatArray,
    max_count: int,
) -> None:
    """Top-level pools (each below min_count) join the nearest cell with room."""
    if not groups:
        merged = _Group()
        for pool in leftovers:
            merged.absorb(pool)
        groups.append(merged)
        return
    centres = [spherical_mean(lats[g.members()], lons[g.members()]) for g in groups]
    clat = np.asarray([c[0] for c in centres])
    clon = np.asarray([c[1] for c in centres])
    for pool in leftovers:
        rows = pool.members()
        lat, lon = spherical_mean(lats[rows], lons[rows])
        order = np.argsort(haversine_km(lat, lon, clat, clon), kind="stable")
        room = [int(i) for i in order if groups[int(i)].count + rows.size <= max_count]
        groups[room[0] if room else int(order[0])].absorb(pool)


def _name(ids: list[int]) -> str:
    if len(ids) == 1:
        return f"s2:{s2.to_token(ids[0])}"
    finest = min(s2.level_of(i) for i in ids)
    array = np.asarray(ids, dtype=np.uint64)
    for level in range(finest, -1, -1):
        common = np.unique(s2.parents(array, level))
        if common.size == 1:
            return f"s2:{s2.to_token(int(common[0]))}~{len(ids)}"
    return f"s2:~{len(ids)}"  # pools from several faces (a tiny data set)
