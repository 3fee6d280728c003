"""PIGEON-style semantic geocells (Haas et al., 2023): cells that follow borders.

1. Every training point is reverse-geocoded offline to its country and first-level region
   (:func:`ethan.geocode.reverse_many`); a (country, region) pair is a *unit*. Points at
   sea form their own pseudo-country.
2. Inside each country, the sparsest group of units (fewer than ``min_count`` points) is
   merged with the group whose centroid is nearest, until none is sparse or the country
   is a single group. A group never takes units of another country.
3. A group with more than ``max_count`` points is split in two by clustering (2-means on
   the points' unit vectors), recursively; when 2-means would leave a side below
   ``min_count`` the split falls back to a median cut along the points' principal axis.
   Every split is a plane through the unit vectors, so any point finds its side exactly.

So a cell lies inside one country, and holds between ``min_count`` and ``max_count``
points (given ``max_count >= 2 * min_count``), except a country with fewer than
``min_count`` points in all (it stays one cell rather than cross its border) and a spot
whose identical points outnumber ``max_count``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ethan.baselines.geocells import (
    SEA,
    Cell,
    IntArray,
    Partition,
    Split,
    spherical_mean,
    unit_keys,
)
from ethan.errors import ConfigError
from ethan.geo import FloatArray, haversine_km, to_unit_vectors

Rows = NDArray[np.intp]
KMEANS_ITERATIONS = 12


def semantic_partition(
    lats: FloatArray,
    lons: FloatArray,
    *,
    max_count: int = 1000,
    min_count: int = 50,
) -> tuple[Partition, IntArray]:
    """Semantic geocells of the points and each point's cell."""
    if min_count < 1 or max_count < 2 * min_count:
        raise ConfigError(
            f"semantic geocells need min_count >= 1 and max_count >= 2 * min_count "
            f"(got {max_count} and {min_count})"
        )
    keys, _ = unit_keys(lats, lons)
    vectors = to_unit_vectors(lats, lons)
    units: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        units.setdefault(key, []).append(i)
    by_country: dict[str, list[str]] = {}
    for key in sorted(units):
        by_country.setdefault(key.split("|", 1)[0], []).append(key)

    cells: list[Cell] = []
    trees: dict[str, Split] = {}
    labels = np.full(lats.size, -1, dtype=np.int64)
    for country in sorted(by_country):
        for group in _merge_sparse(by_country[country], units, lats, lons, min_count):
            rows = np.asarray(sorted(i for key in group for i in units[key]), dtype=np.intp)
            first = len(cells)
            tree = _split(vectors, rows, max_count, min_count, _Leaves(first))
            labels[rows] = tree.route(vectors[rows])
            for leaf in range(first, first + len(tree.leaves())):
                members = rows[labels[rows] == leaf]
                cells.append(_cell(members, country, group, keys, lats, lons, leaf - first))
            for key in group:
                trees[key] = tree
    _number_parts(cells)
    params = {"max_count": max_count, "min_count": min_count, "points": int(lats.size)}
    return Partition(kind="semantic", params=params, cells=cells, units=trees), labels


def _merge_sparse(
    keys: Sequence[str],
    units: dict[str, list[int]],
    lats: FloatArray,
    lons: FloatArray,
    min_count: int,
) -> list[list[str]]:
    """Groups of one country's units, the sparse ones merged into their nearest group."""
    groups = [[key] for key in keys]
    counts = [len(units[key]) for key in keys]
    centres = [spherical_mean(lats[units[key]], lons[units[key]]) for key in keys]
    while len(groups) > 1:
        small = min(range(len(groups)), key=lambda g: (counts[g], groups[g][0]))
        if counts[small] >= min_count:
            break
        lat, lon = centres[small]
        others = [g for g in range(len(groups)) if g != small]
        dist = [haversine_km(lat, lon, centres[g][0], centres[g][1]) for g in others]
        target = others[int(np.argmin(dist))]
        groups[target].extend(groups[small])
        counts[target] += counts[small]
        rows = [i for key in groups[target] for i in units[key]]
        centres[target] = spherical_mean(lats[rows], lons[rows])
        del groups[small], counts[small], centres[small]
    return groups


class _Leaves:
    """Hands out consecutive cell indices to the leaves of a split tree."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self) -> Split:
        leaf = Split(cell=self.next)
        self.next += 1
        return leaf


def _split(
    vectors: FloatArray, rows: Rows, max_count: int, min_count: int, leaves: _Leaves
) -> Split:
    if rows.size <= max_count:
        return leaves.take()
    points = vectors[rows]
    plane = _two_means_plane(points)
    if plane is None or not _balanced(points, plane, min_count):
        plane = _median_plane(points)
    if plane is None or not _balanced(points, plane, min_count):
        return leaves.take()  # identical points: nothing to split
    normal, offset = plane
    side = points @ normal >= offset
    pos = _split(vectors, rows[side], max_count, min_count, leaves)
    neg = _split(vectors, rows[~side], max_count, min_count, leaves)
    n = (float(normal[0]), float(normal[1]), float(normal[2]))
    return Split(normal=n, offset=offset, pos=pos, neg=neg)


Plane = tuple[FloatArray, float]


def _balanced(points: FloatArray, plane: Plane, min_count: int) -> bool:
    side = points @ plane[0] >= plane[1]
    pos = int(side.sum())
    return pos >= min_count and side.size - pos >= min_count


def _two_means_plane(points: FloatArray) -> Plane | None:
    """The plane between the two centres of a 2-means clustering (deterministic start:
    the point farthest from the mean, then the point farthest from that one)."""
    a = points[int(np.argmax(((points - points.mean(axis=0)) ** 2).sum(axis=1)))]
    b = points[int(np.argmax(((points - a) ** 2).sum(axis=1)))]
    if np.allclose(a, b):
        return None
    for _ in range(KMEANS_ITERATIONS):
        normal, offset = a - b, float((a @ a - b @ b) / 2)
        side = points @ normal >= offset
        if side.all() or not side.any():
            return None
        new_a, new_b = points[side].mean(axis=0), points[~side].mean(axis=0)
        if np.allclose(new_a, a) and np.allclose(new_b, b):
            break
        a, b = new_a, new_b
    return a - b, float((a @ a - b @ b) / 2)


def _median_plane(points: FloatArray) -> Plane | None:
    """A cut through the median of the projections on the principal axis."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axis = vt[0]
    values = np.sort(points @ axis)
    half = values.size // 2
    if values[half] <= values[half - 1]:
        above = values[values > values[half - 1]]
        if above.size == 0:
            return None
        return axis, float((values[half - 1] + above[0]) / 2)
    return axis, float((values[half - 1] + values[half]) / 2)


def _cell(
    members: Rows,
    country: str,
    group: Sequence[str],
    keys: Sequence[str],
    lats: FloatArray,
    lons: FloatArray,
    part: int,
) -> Cell:
    from ethan.geocode.countries import country_table

    lat, lon = spherical_mean(lats[members], lons[members])
    regions = Counter(keys[i].split("|", 1)[1] for i in members)
    region = regions.most_common(1)[0][0] if regions else ""
    info = country_table().info(country) if country != SEA else None
    country_name = info.name if info else (country or "sea")
    label = country_name + (f" / {region}" if region else "")
    if len(group) > 1:
        label += f" +{len(group) - 1}"
    return Cell(
        name=label,
        lat=lat,
        lon=lon,
        count=int(members.size),
        country_code=country or None,
        country=info.name if info else None,
        region=region or None,
    )


def _number_parts(cells: list[Cell]) -> None:
    """Cells of one split group share a name: number them (#1, #2...)."""
    seen = Counter(c.name for c in cells)
    running: Counter[str] = Counter()
    for cell in cells:
        if seen[cell.name] > 1:
            running[cell.name] += 1
            cell.name = f"{cell.name} #{running[cell.name]}"
