"""Building a partition of training points into geocells, of either kind.

Kept apart from :mod:`ethan.baselines.geocells` (the cells themselves), which the builders
in :mod:`~ethan.baselines.planet` and :mod:`~ethan.baselines.semantic` import.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ethan.baselines.geocells import IntArray, Kind, Partition
from ethan.baselines.planet import s2_partition
from ethan.baselines.semantic import semantic_partition
from ethan.errors import ConfigError


def build_partition(
    lats: ArrayLike,
    lons: ArrayLike,
    *,
    kind: Kind = "semantic",
    max_count: int = 1000,
    min_count: int = 50,
    **options: Any,
) -> tuple[Partition, IntArray]:
    """Build a partition of the training points; returns it and each point's cell (-1 for a
    point in a dropped cell)."""
    la = np.asarray(lats, dtype=np.float64).reshape(-1)
    lo = np.asarray(lons, dtype=np.float64).reshape(-1)
    if la.shape != lo.shape:
        raise ConfigError(f"lats and lons differ in length: {la.size} != {lo.size}")
    if la.size == 0:
        raise ConfigError("no training points to build geocells from")
    if kind == "s2":
        return s2_partition(la, lo, max_count=max_count, min_count=min_count, **options)
    if kind == "semantic":
        return semantic_partition(la, lo, max_count=max_count, min_count=min_count, **options)
    raise ConfigError(f"unknown geocell kind {kind!r}: choose s2 or semantic")
