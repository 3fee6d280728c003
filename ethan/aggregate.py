"""Several weighted hypotheses into one answer point.

Weights: every model sample counts equally; inside a sample the stated probabilities are
used (renormalised) when every guess of the sample states one, else rank weights
1, 1/2, 1/3... in the order the model wrote its guesses.

Methods:

* ``medoid`` (default): the hypothesis minimising the weighted sum of great-circle distances
  to all hypotheses. Always one of the hypotheses, so two far-apart guesses (Paris and New
  York) never average into the ocean between them.
* ``top``: the highest-weight hypothesis.
* ``mean``: the weighted spherical mean (3D unit vectors averaged, then renormalised); falls
  back to the medoid when the vectors cancel out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from ethan.geo import (
    FloatArray,
    from_unit_vector,
    haversine_km,
    to_unit_vectors,
    weighted_medoid,
)
from ethan.types import Hypothesis

Method = Literal["medoid", "top", "mean"]
METHODS: tuple[Method, ...] = ("medoid", "top", "mean")

_CANCELLED = 1e-6  # norm of the mean vector below which the spherical mean is undefined


class Aggregate(BaseModel):
    """The answer point and how far, on average, the hypotheses lie from it."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    spread_km: float = Field(
        ge=0, description="probability-weighted mean distance of the hypotheses from the point"
    )


def _sample_weights(members: list[Hypothesis]) -> FloatArray:
    stated = [h.probability for h in members]
    if all(p is not None for p in stated):
        probs = np.asarray(stated, dtype=np.float64)
        total = float(probs.sum())
        if total > 0:
            return probs / total
    ranks = 1.0 / np.arange(1, len(members) + 1, dtype=np.float64)
    return ranks / float(ranks.sum())


def hypothesis_weights(hypotheses: list[Hypothesis]) -> FloatArray:
    """Normalised weights (summing to 1), one per hypothesis, in input order.

    Each sample (``Hypothesis.sample``) gets an equal share; inside a sample the share is
    split by stated probability when all its hypotheses state one (and they do not sum to
    0), else by rank (1, 1/2, 1/3... normalised) in input order.
    """
    if not hypotheses:
        return np.zeros(0, dtype=np.float64)
    by_sample: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hypotheses):
        by_sample[h.sample].append(i)
    weights = np.zeros(len(hypotheses), dtype=np.float64)
    share = 1.0 / len(by_sample)
    for indexes in by_sample.values():
        weights[indexes] = share * _sample_weights([hypotheses[i] for i in indexes])
    return weights


def aggregate(hypotheses: list[Hypothesis], method: Method = "medoid") -> Aggregate:
    """One point from weighted hypotheses; ``ValueError`` on an empty list or unknown method."""
    if not hypotheses:
        raise ValueError("cannot aggregate an empty list of hypotheses")
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; use one of {METHODS}")
    weights = hypothesis_weights(hypotheses)
    lats = np.asarray([h.lat for h in hypotheses], dtype=np.float64)
    lons = np.asarray([h.lon for h in hypotheses], dtype=np.float64)

    if method == "top":
        best = int(np.argmax(weights))  # the first of equal weights
        lat, lon = float(lats[best]), float(lons[best])
    elif method == "mean":
        mean = weights @ to_unit_vectors(lats, lons)
        if float(np.linalg.norm(mean)) < _CANCELLED:
            best = weighted_medoid(lats, lons, weights)
            lat, lon = float(lats[best]), float(lons[best])
        else:
            lat, lon = from_unit_vector(mean)
    else:
        best = weighted_medoid(lats, lons, weights)
        lat, lon = float(lats[best]), float(lons[best])

    distances = np.asarray(haversine_km(lat, lon, lats, lons), dtype=np.float64)
    spread = float(weights @ distances)
    return Aggregate(lat=lat, lon=lon, spread_km=max(spread, 0.0))
