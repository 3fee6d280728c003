from __future__ import annotations

import math

import numpy as np
import pytest

from ethan.geo import (
    EARTH_RADIUS_KM,
    from_unit_vector,
    haversine_km,
    pairwise_km,
    to_unit_vectors,
    weighted_distance_sums,
    weighted_medoid,
)

PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)
NEW_YORK = (40.7128, -74.0060)


def test_paris_london() -> None:
    d = haversine_km(*PARIS, *LONDON)
    assert isinstance(d, float)
    assert d == pytest.approx(344, abs=1.5)


def test_symmetric_and_zero() -> None:
    assert haversine_km(*PARIS, *PARIS) == 0.0
    assert haversine_km(*PARIS, *NEW_YORK) == pytest.approx(haversine_km(*NEW_YORK, *PARIS))
    assert haversine_km(*PARIS, *NEW_YORK) == pytest.approx(5837, abs=10)


def test_antipodes_and_dateline() -> None:
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    # one degree of longitude across the antimeridian, not 359
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.2)


def test_vectorised_broadcast() -> None:
    lats = np.array([PARIS[0], LONDON[0], NEW_YORK[0]])
    lons = np.array([PARIS[1], LONDON[1], NEW_YORK[1]])
    d = haversine_km(PARIS[0], PARIS[1], lats, lons)
    assert isinstance(d, np.ndarray)
    assert d.shape == (3,)
    assert d[0] == 0.0
    assert d[1] == pytest.approx(haversine_km(*PARIS, *LONDON))
    pair = np.asarray(haversine_km([0.0, 10.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]))
    assert pair.tolist() == [
        0.0,
        pytest.approx(1111.95, abs=0.1),
    ]


def test_pairwise() -> None:
    lats = [PARIS[0], LONDON[0], NEW_YORK[0]]
    lons = [PARIS[1], LONDON[1], NEW_YORK[1]]
    m = pairwise_km(lats, lons)
    assert m.shape == (3, 3)
    assert np.allclose(np.diag(m), 0.0)
    assert np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(haversine_km(*PARIS, *LONDON))
    assert pairwise_km([], []).shape == (0, 0)
    with pytest.raises(ValueError):
        pairwise_km([1.0, 2.0], [1.0])


def test_weighted_medoid() -> None:
    lats = [PARIS[0], LONDON[0], NEW_YORK[0]]
    lons = [PARIS[1], LONDON[1], NEW_YORK[1]]
    sums = weighted_distance_sums(lats, lons, [1.0, 1.0, 1.0])
    assert int(np.argmin(sums)) == weighted_medoid(lats, lons, [1.0, 1.0, 1.0])
    # Paris and London are close: either beats New York as the medoid
    assert weighted_medoid(lats, lons, [1.0, 1.0, 1.0]) in (0, 1)
    # a heavy New York wins
    assert weighted_medoid(lats, lons, [1.0, 1.0, 10.0]) == 2
    # two points, equal weights: a tie, the earlier wins; unequal: the heavier
    assert weighted_medoid(lats[::2], lons[::2], [1.0, 1.0]) == 0
    assert weighted_medoid(lats[::2], lons[::2], [1.0, 2.0]) == 1
    with pytest.raises(ValueError):
        weighted_medoid([], [], [])


def test_unit_vectors_round_trip() -> None:
    pts = [(0.0, 0.0), (45.0, 90.0), (-33.9, 151.2), (89.0, -179.0)]
    vecs = to_unit_vectors([p[0] for p in pts], [p[1] for p in pts])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    for vec, (lat, lon) in zip(vecs, pts, strict=True):
        back = from_unit_vector(vec)
        assert back == pytest.approx((lat, lon), abs=1e-9)
    assert from_unit_vector([0.0, 0.0, 5.0])[0] == pytest.approx(90.0)
