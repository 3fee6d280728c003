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
* ``cluster``: for many samples. Hypotheses closer than ``cluster_km`` (single linkage) form
  clusters; the answer is the weighted medoid of the heaviest cluster, so a majority of
  samples agreeing on one area wins over a scattered minority, whatever lies between them.

Uncertainty: ``spread_km`` is the weighted mean distance of the hypotheses from the answer;
``radius_km`` the smallest radius around the answer that holds :data:`RADIUS_SHARE` (90%) of
the weight.
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
    pairwise_km,
    to_unit_vectors,
    weighted_medoid,
)
from ethan.types import Hypothesis

Method = Literal["medoid", "top", "mean", "cluster"]
METHODS: tuple[Method, ...] = ("medoid", "top", "mean", "cluster")
CLUSTER_KM = 150.0  # hypotheses closer than this belong to one cluster
RADIUS_SHARE = 0.9  # share of the weight inside ``radius_km``

_CANCELLED = 1e-6  # norm of the mean vector below which the spherical mean is undefined


class Aggregate(BaseModel):
    """The answer point and how far the hypotheses lie from it."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    spread_km: float = Field(
        ge=0, description="probability-weighted mean distance of the hypotheses from the point"
    )
    radius_km: float = Field(
        default=0.0, ge=0, description="radius around the point holding 90% of the weight"
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


def clusters(lats: FloatArray, lons: FloatArray, cluster_km: float = CLUSTER_KM) -> list[list[int]]:
    """Single-linkage clusters: indexes linked by chains of hypotheses under ``cluster_km``."""
    d = pairwise_km(lats, lons)
    n = d.shape[0]
    label = [-1] * n
    groups: list[list[int]] = []
    for seed in range(n):
        if label[seed] >= 0:
            continue
        label[seed] = len(groups)
        members = [seed]
        frontier = [seed]
        while frontier:
            i = frontier.pop()
            for j in np.flatnonzero(d[i] <= cluster_km).tolist():
                if label[j] < 0:
                    label[j] = label[seed]
                    members.append(j)
                    frontier.append(j)
        groups.append(sorted(members))
    return groups


def weighted_radius(
    distances: FloatArray, weights: FloatArray, share: float = RADIUS_SHARE
) -> float:
    """The smallest distance within which ``share`` of the (normalised) weight lies."""
    order = np.argsort(distances, kind="stable")
    cumulative = np.cumsum(weights[order])
    total = float(cumulative[-1]) if cumulative.size else 0.0
    if total <= 0:
        return 0.0
    k = int(np.searchsorted(cumulative, share * total - 1e-12))
    return float(distances[order[min(k, order.size - 1)]])


def aggregate(
    hypotheses: list[Hypothesis], method: Method = "medoid", *, cluster_km: float = CLUSTER_KM
) -> Aggregate:
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
    elif method == "cluster":
        groups = clusters(lats, lons, cluster_km)
        # the heaviest cluster; on a tie, the one holding the highest-weight hypothesis
        top = int(np.argmax(weights))
        heaviest = max(groups, key=lambda g: (float(weights[g].sum()), top in g))
        best = heaviest[weighted_medoid(lats[heaviest], lons[heaviest], weights[heaviest])]
        lat, lon = float(lats[best]), float(lons[best])
    else:
        best = weighted_medoid(lats, lons, weights)
        lat, lon = float(lats[best]), float(lons[best])

    distances = np.asarray(haversine_km(lat, lon, lats, lons), dtype=np.float64)
    spread = float(weights @ distances)
    return Aggregate(
        lat=lat,
        lon=lon,
        spread_km=max(spread, 0.0),
        radius_km=max(weighted_radius(distances, weights), 0.0),
    )
