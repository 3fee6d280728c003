"""Synthetic geolocation data whose embeddings encode the location: for tests and benchmarks.

Points are drawn around real towns of the offline gazetteer (weighted by the square root of
their population, then scattered by a few km), so they cluster and follow borders the way
photo collections do. Their "image embeddings" are noisy random Fourier features of the
point's unit vector at several spatial scales: nearby points get similar embeddings, with
noise standing in for everything in a photo that says nothing about where it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ethan.geo import EARTH_RADIUS_KM, FloatArray, to_unit_vectors

F32 = np.ndarray[Any, np.dtype[np.float32]]

DEFAULT_SCALES_KM = (3000.0, 800.0, 200.0, 50.0)
# a photo says more about its continent and country than about its town
DEFAULT_WEIGHTS = (1.5, 1.0, 0.5, 0.25)


@dataclass(frozen=True)
class SyntheticSet:
    lats: FloatArray
    lons: FloatArray
    embeddings: F32  # (n, dim)

    def __len__(self) -> int:
        return int(self.lats.size)

    def take(self, rows: np.ndarray) -> SyntheticSet:
        return SyntheticSet(self.lats[rows], self.lons[rows], self.embeddings[rows])


def town_points(
    n: int, *, seed: int = 0, scatter_km: float = 5.0, towns: int = 3000
) -> tuple[FloatArray, FloatArray]:
    """``n`` points around the ``towns`` most populous gazetteer towns (sqrt-population
    weights), each moved by a Gaussian of ``scatter_km``."""
    from ethan.geocode.index import DEFAULT_CITY_POPULATION, load_index
    from ethan.paths import user_cache_dir

    index = load_index(DEFAULT_CITY_POPULATION, user_cache_dir())
    pop = np.asarray(index.city_pop, dtype=np.float64)
    top = np.argsort(-pop, kind="stable")[:towns]
    weights = np.sqrt(pop[top])
    rng = np.random.default_rng(seed)
    pick = top[rng.choice(top.size, size=n, p=weights / weights.sum())]
    lat = np.asarray(index.city_lat, dtype=np.float64)[pick]
    lon = np.asarray(index.city_lon, dtype=np.float64)[pick]
    step = rng.normal(0.0, scatter_km, size=(n, 2)) / 111.2
    lats = np.clip(lat + step[:, 0], -89.9, 89.9)
    lons = lon + step[:, 1] / np.maximum(np.cos(np.radians(lats)), 0.05)
    lons = (lons + 180.0) % 360.0 - 180.0
    return lats, lons


def fourier_embeddings(
    lats: FloatArray,
    lons: FloatArray,
    *,
    dim: int = 128,
    scales_km: tuple[float, ...] = DEFAULT_SCALES_KM,
    weights: tuple[float, ...] | None = None,
    noise: float = 0.5,
    seed: int = 0,
    noise_seed: int = 1,
) -> F32:
    """(n, dim) float32: ``sqrt(2) cos(W v + b)`` of the unit vector v (unit variance), W
    split evenly between the spatial scales (frequency ~ 1 / scale), plus Gaussian noise of
    standard deviation ``noise``. ``weights`` scales each spatial scale's features (how much
    a photo says at that scale; default all 1). The same ``seed`` gives the same features
    for any points; ``noise_seed`` draws the noise."""
    if weights is not None and len(weights) != len(scales_km):
        raise ValueError(f"{len(weights)} weights for {len(scales_km)} scales")
    rng = np.random.default_rng(seed)
    per = -(-dim // len(scales_km))
    blocks = [rng.normal(0.0, EARTH_RADIUS_KM / s, size=(per, 3)) for s in scales_km]
    w = np.concatenate(blocks)[:dim]
    b = rng.uniform(0.0, 2 * np.pi, size=dim)
    gain = np.repeat(np.asarray(weights or [1.0] * len(scales_km), dtype=np.float64), per)[:dim]
    features = np.cos(to_unit_vectors(lats, lons) @ w.T + b) * np.sqrt(2.0) * gain
    noisy = features + np.random.default_rng(noise_seed).normal(0.0, noise, size=features.shape)
    return np.asarray(noisy, dtype=np.float32)


def synthetic_set(
    n: int,
    *,
    seed: int = 0,
    dim: int = 128,
    noise: float = 1.0,
    weights: tuple[float, ...] | None = DEFAULT_WEIGHTS,
    feature_seed: int = 1234,
) -> SyntheticSet:
    """Points and their embeddings; sets drawn with other ``seed`` but the same
    ``feature_seed`` share one embedding function (train and test)."""
    lats, lons = town_points(n, seed=seed)
    emb = fourier_embeddings(
        lats, lons, dim=dim, weights=weights, noise=noise, seed=feature_seed,
        noise_seed=seed + 7919,
    )
    return SyntheticSet(lats, lons, emb)
