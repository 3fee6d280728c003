"""S2 cells: point → leaf cell id through the ``s2cell`` package, hierarchy math vectorised.

An S2 cell id is a 64-bit integer: 3 bits of cube face, then two bits per level along a
Hilbert curve, then a single 1 bit (the "lsb") whose position gives the level (30 at the
leaves). Going up the hierarchy is bit arithmetic on that integer, so once every point has its
leaf id, the parent at any level of a million points is one numpy expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethan.errors import MissingDependencyError
from ethan.geo import FloatArray

MAX_LEVEL = 30
U64 = NDArray[np.uint64]
_LEAF_EDGE = (1 << MAX_LEVEL) - 1


def _s2cell() -> Any:
    try:
        import s2cell
    except ImportError:
        raise MissingDependencyError(
            "S2 geocells need the s2cell package: pip install 'ethan-geo[baselines]'"
        ) from None
    return s2cell


def leaf_ids(lats: Sequence[float] | FloatArray, lons: Sequence[float] | FloatArray) -> U64:
    """Level-30 cell ids of points (decimal degrees)."""
    s2 = _s2cell()
    to_id = s2.lat_lon_to_cell_id
    la = np.asarray(lats, dtype=np.float64).reshape(-1)
    lo = np.asarray(lons, dtype=np.float64).reshape(-1)
    if la.shape != lo.shape:
        raise ValueError(f"lats and lons differ in length: {la.size} != {lo.size}")
    out = np.empty(la.size, dtype=np.uint64)
    for k, (lat, lon) in enumerate(zip(la.tolist(), lo.tolist(), strict=True)):
        out[k] = to_id(lat, lon, MAX_LEVEL)
    return out


def _lsb_for_level(level: int) -> np.uint64:
    lsb: np.uint64 = np.uint64(1 << (2 * (MAX_LEVEL - level)))
    return lsb


def parents(ids: U64, level: int) -> U64:
    """The ancestor at ``level`` of each cell id (ids must be at that level or finer)."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"S2 levels run from 0 to 30, got {level}")
    lsb = _lsb_for_level(level)
    mask = ~(lsb - np.uint64(1)) - lsb  # clears the bits below and at the lsb
    return np.asarray((ids & mask) | lsb, dtype=np.uint64)


def parent(cell_id: int, level: int) -> int:
    return int(parents(np.asarray([cell_id], dtype=np.uint64), level)[0])


def level_of(cell_id: int) -> int:
    """The level of a cell id (0 for a face, 30 for a leaf)."""
    if cell_id <= 0:
        raise ValueError(f"not an S2 cell id: {cell_id}")
    lsb = cell_id & -cell_id
    return MAX_LEVEL - (lsb.bit_length() - 1) // 2


def to_token(cell_id: int) -> str:
    """The compact hex token of a cell id ("47e4")."""
    return f"{cell_id:016x}".rstrip("0") or "X"


def from_token(token: str) -> int:
    try:
        value = int(token.ljust(16, "0"), 16)
    except ValueError:
        raise ValueError(f"not an S2 token: {token!r}") from None
    if value <= 0 or len(token) > 16:
        raise ValueError(f"not an S2 token: {token!r}")
    return value


def boundary(cell_id: int, steps: int = 8) -> list[tuple[float, float]]:
    """(lat, lon) points along the cell's edge, ``steps`` per side, for drawing it."""
    s2 = _s2cell()
    level = level_of(cell_id)
    face, i, j = s2.s2_cell_id_to_face_ij(cell_id)
    size = 1 << (MAX_LEVEL - level)
    i0, j0 = (i // size) * size, (j // size) * size
    corners = [(i0, j0), (i0 + size, j0), (i0 + size, j0 + size), (i0, j0 + size)]
    points: list[tuple[float, float]] = []
    for (ai, aj), (bi, bj) in zip(corners, corners[1:] + corners[:1], strict=True):
        for t in range(steps):
            ci = min(ai + (bi - ai) * t // steps, _LEAF_EDGE)
            cj = min(aj + (bj - aj) * t // steps, _LEAF_EDGE)
            lat, lon = s2.cell_id_to_lat_lon(s2.s2_face_ij_to_cell_id(face, ci, cj, MAX_LEVEL))
            points.append((float(lat), float(lon)))
    return points
