from __future__ import annotations

import numpy as np
import pytest

from ethan.aggregate import Aggregate, aggregate, clusters, hypothesis_weights, weighted_radius
from ethan.geo import haversine_km
from ethan.types import Hypothesis, PointSource

PARIS = (48.8566, 2.3522)
NEW_YORK = (40.7128, -74.0060)
LONDON = (51.5074, -0.1278)
BERLIN = (52.52, 13.405)


def hyp(
    point: tuple[float, float], *, probability: float | None = None, sample: int = 0
) -> Hypothesis:
    return Hypothesis(
        lat=point[0],
        lon=point[1],
        source=PointSource.STATED,
        probability=probability,
        sample=sample,
    )


# -- weights -------------------------------------------------------------------------------
def test_weights_rank_based_without_probabilities() -> None:
    w = hypothesis_weights([hyp(PARIS), hyp(LONDON), hyp(BERLIN)])
    expected = np.array([1, 1 / 2, 1 / 3]) / (1 + 1 / 2 + 1 / 3)
    assert np.allclose(w, expected)
    assert w.sum() == pytest.approx(1.0)


def test_weights_use_probabilities_renormalised() -> None:
    w = hypothesis_weights(
        [hyp(PARIS, probability=0.2), hyp(LONDON, probability=0.6), hyp(BERLIN, probability=0.2)]
    )
    assert np.allclose(w, [0.2, 0.6, 0.2])
    w = hypothesis_weights([hyp(PARIS, probability=0.3), hyp(LONDON, probability=0.1)])
    assert np.allclose(w, [0.75, 0.25])


def test_weights_partial_or_zero_probabilities_fall_back_to_rank() -> None:
    w = hypothesis_weights([hyp(PARIS, probability=0.9), hyp(LONDON)])
    assert np.allclose(w, [2 / 3, 1 / 3])
    w = hypothesis_weights([hyp(PARIS, probability=0.0), hyp(LONDON, probability=0.0)])
    assert np.allclose(w, [2 / 3, 1 / 3])


def test_each_sample_counts_equally() -> None:
    hyps = [
        hyp(PARIS, sample=0),
        hyp(LONDON, sample=0),
        hyp(BERLIN, sample=0),
        hyp(NEW_YORK, sample=1),
    ]
    w = hypothesis_weights(hyps)
    assert w.sum() == pytest.approx(1.0)
    assert w[:3].sum() == pytest.approx(0.5)
    assert w[3] == pytest.approx(0.5)
    # samples need not be contiguous nor numbered from 0
    w2 = hypothesis_weights([hyp(PARIS, sample=3), hyp(NEW_YORK, sample=7), hyp(LONDON, sample=3)])
    assert np.allclose(w2, [0.5 * 2 / 3, 0.5, 0.5 * 1 / 3])


def test_weights_empty() -> None:
    assert hypothesis_weights([]).shape == (0,)


# -- aggregation -----------------------------------------------------------------------------
def test_empty_and_unknown_method_raise() -> None:
    with pytest.raises(ValueError):
        aggregate([])
    with pytest.raises(ValueError):
        aggregate([hyp(PARIS)], "median")  # type: ignore[arg-type]


def test_single_hypothesis() -> None:
    for method in ("medoid", "top", "mean"):
        a = aggregate([hyp(PARIS)], method)
        assert isinstance(a, Aggregate)
        assert (a.lat, a.lon) == pytest.approx(PARIS)
        assert a.spread_km == pytest.approx(0.0, abs=1e-6)


def test_medoid_of_paris_and_new_york_is_one_of_them() -> None:
    a = aggregate([hyp(PARIS), hyp(NEW_YORK)])
    assert (a.lat, a.lon) == PARIS  # the rank-1 guess weighs more
    a = aggregate([hyp(PARIS, probability=0.5), hyp(NEW_YORK, probability=0.5)])
    assert (a.lat, a.lon) == PARIS  # an exact tie: the earlier one
    a = aggregate([hyp(PARIS, probability=0.4), hyp(NEW_YORK, probability=0.6)])
    assert (a.lat, a.lon) == NEW_YORK  # the heavier one
    assert a.spread_km == pytest.approx(0.4 * haversine_km(*PARIS, *NEW_YORK))


def test_medoid_picks_the_cluster() -> None:
    hyps = [
        hyp(NEW_YORK, probability=0.4),
        hyp(PARIS, probability=0.2),
        hyp(LONDON, probability=0.2),
        hyp(BERLIN, probability=0.2),
    ]
    a = aggregate(hyps, "medoid")
    assert (a.lat, a.lon) in (PARIS, LONDON, BERLIN)
    assert aggregate(hyps, "top").lat == NEW_YORK[0]


def test_medoid_across_samples() -> None:
    # three samples agree on Paris, one says New York first
    hyps = [hyp(NEW_YORK, sample=0), hyp(PARIS, sample=0)] + [
        hyp(PARIS, sample=s) for s in (1, 2, 3)
    ]
    a = aggregate(hyps)
    assert (a.lat, a.lon) == PARIS


def test_top() -> None:
    hyps = [hyp(PARIS, probability=0.3), hyp(NEW_YORK, probability=0.7)]
    a = aggregate(hyps, "top")
    assert (a.lat, a.lon) == NEW_YORK
    assert a.spread_km == pytest.approx(0.3 * haversine_km(*PARIS, *NEW_YORK))


def test_mean_is_spherical_not_lat_lon_average() -> None:
    # across the antimeridian: a plain average of longitudes would give 0
    a = aggregate([hyp((0.0, 170.0), probability=0.5), hyp((0.0, -170.0), probability=0.5)], "mean")
    assert a.lat == pytest.approx(0.0, abs=1e-9)
    assert abs(a.lon) == pytest.approx(180.0)
    assert a.spread_km == pytest.approx(haversine_km(0, 170, 0, 180))
    # near the pole: two points at 80N, opposite longitudes, meet at the pole
    b = aggregate([hyp((80.0, 0.0), probability=0.5), hyp((80.0, 180.0), probability=0.5)], "mean")
    assert b.lat == pytest.approx(90.0)


def test_mean_between_close_points() -> None:
    a = aggregate([hyp(PARIS, probability=0.5), hyp(LONDON, probability=0.5)], "mean")
    half = haversine_km(*PARIS, *LONDON) / 2
    assert haversine_km(a.lat, a.lon, *PARIS) == pytest.approx(half, rel=1e-6)
    assert haversine_km(a.lat, a.lon, *LONDON) == pytest.approx(half, rel=1e-6)
    assert a.spread_km == pytest.approx(half, rel=1e-6)


def test_mean_on_antipodal_input_falls_back_to_medoid() -> None:
    hyps = [hyp((10.0, 20.0), probability=0.5), hyp((-10.0, -160.0), probability=0.5)]
    a = aggregate(hyps, "mean")
    assert (a.lat, a.lon) == (10.0, 20.0)
    assert a.spread_km == pytest.approx(haversine_km(10, 20, -10, -160) / 2)


# -- clustering and the 90% radius ---------------------------------------------------------
LYON = (45.76, 4.84)
TOKYO = (35.68, 139.69)


def test_cluster_picks_the_heaviest_group_not_the_top_hypothesis() -> None:
    # ten samples: four scattered over Asia/America first choices, six around Paris-Lyon
    hyps = [hyp(NEW_YORK, sample=0), hyp(TOKYO, sample=1), hyp(NEW_YORK, sample=2)]
    hyps += [hyp(TOKYO, sample=3)]
    hyps += [hyp(PARIS if s % 2 else LYON, sample=s) for s in range(4, 10)]
    a = aggregate(hyps, "cluster")
    assert (a.lat, a.lon) in (PARIS, LYON)
    assert (a.lat, a.lon) == LYON or (a.lat, a.lon) == PARIS
    # the plain medoid of the same hypotheses also lands in France, but "top" does not
    assert (aggregate(hyps, "top").lat, aggregate(hyps, "top").lon) == NEW_YORK


def test_cluster_single_linkage_chains() -> None:
    lats = np.asarray([48.0, 48.0, 48.0, 10.0])
    lons = np.asarray([0.0, 1.5, 3.0, 0.0])  # ~110 km steps chain; the fourth is far
    assert clusters(lats, lons, 150.0) == [[0, 1, 2], [3]]
    assert clusters(lats, lons, 50.0) == [[0], [1], [2], [3]]


def test_cluster_with_one_hypothesis_and_ties() -> None:
    a = aggregate([hyp(PARIS)], "cluster")
    assert (a.lat, a.lon) == PARIS and a.radius_km == 0.0
    # two equal clusters: the one holding the first (highest-weight) hypothesis wins
    b = aggregate([hyp(TOKYO, probability=0.5), hyp(PARIS, probability=0.5)], "cluster")
    assert (b.lat, b.lon) == TOKYO


def test_radius_holds_ninety_percent_of_the_weight() -> None:
    hyps = [hyp(PARIS, probability=0.85), hyp(LONDON, probability=0.1)]
    hyps.append(hyp(NEW_YORK, probability=0.05))
    a = aggregate(hyps)
    assert (a.lat, a.lon) == PARIS
    assert a.radius_km == pytest.approx(haversine_km(*PARIS, *LONDON))  # 85% + 10% >= 90%
    assert a.spread_km < a.radius_km
    only = aggregate([hyp(PARIS, probability=0.95), hyp(NEW_YORK, probability=0.05)])
    assert only.radius_km == 0.0
    assert weighted_radius(np.asarray([0.0, 5.0, 9.0]), np.asarray([0.2, 0.2, 0.6])) == 9.0
    assert weighted_radius(np.zeros(0), np.zeros(0)) == 0.0
