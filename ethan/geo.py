"""Small geodesy helpers on a spherical Earth (mean radius), vectorised with numpy."""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius

FloatArray = NDArray[np.float64]


@overload
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...


@overload
def haversine_km(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> float | FloatArray: ...


def haversine_km(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> float | FloatArray:
    """Great-circle distance in km between points given in decimal degrees.

    Accepts floats or anything array-like; arrays broadcast against each other. Returns a
    plain ``float`` when every input is a scalar, else an ``ndarray``.
    """
    phi1, lam1, phi2, lam2 = (
        np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((phi2 - phi1) / 2.0) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2
    )
    # clip guards against rounding pushing a just above 1 for antipodal points
    d = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    if d.ndim == 0:
        return float(d)
    return np.asarray(d, dtype=np.float64)


def pairwise_km(lats: ArrayLike, lons: ArrayLike) -> FloatArray:
    """The (n, n) matrix of great-circle distances in km between n points."""
    la = np.asarray(lats, dtype=np.float64).reshape(-1)
    lo = np.asarray(lons, dtype=np.float64).reshape(-1)
    if la.shape != lo.shape:
        raise ValueError(f"lats and lons differ in length: {la.size} != {lo.size}")
    d = haversine_km(la[:, None], lo[:, None], la[None, :], lo[None, :])
    return np.asarray(d, dtype=np.float64).reshape(la.size, la.size)


def weighted_distance_sums(lats: ArrayLike, lons: ArrayLike, weights: ArrayLike) -> FloatArray:
    """For each point i, the weighted sum over j of ``weights[j] * distance(i, j)`` in km."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    d = pairwise_km(lats, lons)
    if w.size != d.shape[0]:
        raise ValueError(f"{w.size} weights for {d.shape[0]} points")
    return np.asarray(d @ w, dtype=np.float64)


def weighted_medoid(lats: ArrayLike, lons: ArrayLike, weights: ArrayLike) -> int:
    """Index of the point minimising the weighted sum of distances to all points.

    Ties (within floating-point noise) go to the higher weight, then to the earlier index.
    Raises ``ValueError`` on empty input.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size == 0:
        raise ValueError("no points")
    cost = weighted_distance_sums(lats, lons, w)
    best = float(cost.min())
    tied = np.flatnonzero(cost <= best + 1e-9 * max(1.0, best))
    # among tied points: highest weight, and np.argmax returns the first on equal weights
    return int(tied[int(np.argmax(w[tied]))])


def to_unit_vectors(lats: ArrayLike, lons: ArrayLike) -> FloatArray:
    """(n, 3) Cartesian unit vectors of points given in decimal degrees."""
    phi = np.radians(np.asarray(lats, dtype=np.float64).reshape(-1))
    lam = np.radians(np.asarray(lons, dtype=np.float64).reshape(-1))
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)


def from_unit_vector(vector: ArrayLike) -> tuple[float, float]:
    """(lat, lon) in decimal degrees of a non-zero 3D vector (it need not be unit length)."""
    x, y, z = (float(c) for c in np.asarray(vector, dtype=np.float64).reshape(3))
    lat = float(np.degrees(np.arctan2(z, np.hypot(x, y))))
    lon = float(np.degrees(np.arctan2(y, x)))
    return lat, lon


def short_way_lon(from_lon: float, to_lon: float) -> float:
    """``to_lon`` shifted by 360° where that brings it within 180° of ``from_lon``, so that
    a line drawn between them on a flat map goes the short way, across the date line when
    that is shorter (the result may lie outside -180..180)."""
    if to_lon - from_lon > 180.0:
        return to_lon - 360.0
    if from_lon - to_lon > 180.0:
        return to_lon + 360.0
    return to_lon
