"""Metrics against hand-computed cases, and on the recorded answers of a real model."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import ethan.geocode
from ethan.eval.metrics import (
    MAX_KM,
    THRESHOLDS_KM,
    Record,
    distances_km,
    geoscore,
    records_from_points,
    score,
)
from ethan.geo import EARTH_RADIUS_KM
from ethan.parse import parse_answer
from ethan.types import Status

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
STREETVIEW = SHARED / "corpus" / "streetview-dev"
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180  # 111.195 km along a meridian


def _has_reverse_geocoder() -> bool:
    try:
        from ethan.geocode import reverse_many  # noqa: F401
    except ImportError:
        return False
    return True


needs_geocoder = pytest.mark.skipif(
    not _has_reverse_geocoder(), reason="ethan.geocode.reverse_many is not available yet"
)


def ok(i: str, tlat: float, tlon: float, lat: float, lon: float) -> Record:
    return Record(id=i, true_lat=tlat, true_lon=tlon, status=Status.OK, lat=lat, lon=lon)


def miss(i: str, tlat: float, tlon: float, status: Status = Status.REFUSED) -> Record:
    return Record(id=i, true_lat=tlat, true_lon=tlon, status=status)


def off_by(i: str, km: float) -> Record:
    """Truth at (0, 0), prediction ``km`` due north."""
    return ok(i, 0.0, 0.0, km / KM_PER_DEGREE, 0.0)


# -- distances and the score function ----------------------------------------------------------


def test_antipodes_are_half_the_circumference_apart() -> None:
    d = distances_km([ok("a", 0, 0, 0, 180), ok("b", 45, 30, -45, -150)])
    assert d == pytest.approx([20015.1, 20015.1], abs=0.1)
    assert d == pytest.approx([MAX_KM, MAX_KM])


def test_the_pole_is_one_point_whatever_the_longitude() -> None:
    d = distances_km([ok("n", 90, 10, 90, -170), ok("s", -90, 0, -90, 123), ok("q", 90, 0, 0, 77)])
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] == pytest.approx(0.0, abs=1e-6)
    assert d[2] == pytest.approx(MAX_KM / 2)  # pole to equator: a quarter circumference


def test_the_date_line_is_crossed_the_short_way() -> None:
    (d,) = distances_km([ok("a", 0, 179.9, 0, -179.9)])
    assert d == pytest.approx(0.2 * KM_PER_DEGREE, abs=1e-6)  # 22.24 km, not 40,000
    assert d == pytest.approx(22.24, abs=0.01)


def test_unanswered_images_have_no_distance() -> None:
    d = distances_km([off_by("a", 10), miss("b", 5, 5), miss("c", 5, 5, Status.ERROR)])
    assert d[0] == pytest.approx(10.0)
    assert np.isnan(d[1:]).all()


def test_geoscore_formula() -> None:
    s = geoscore([0.0, 1492.7, 2 * 1492.7, math.nan])
    assert s == pytest.approx([5000.0, 5000.0 / math.e, 5000.0 / math.e**2, 0.0])


def test_a_refusal_is_a_miss_for_all_images_but_absent_from_answered() -> None:
    m = score([off_by("a", 0.5), miss("b", 10, 10)], bootstrap=0, geography=False)
    assert (m.n, m.answered, m.refused, m.unparsed, m.errors) == (2, 1, 1, 0, 0)
    assert m.coverage == 0.5
    assert m.acc_km == {"1": 0.5, "25": 0.5, "200": 0.5, "750": 0.5, "2500": 0.5}
    assert m.acc_km_answered == {"1": 1.0, "25": 1.0, "200": 1.0, "750": 1.0, "2500": 1.0}
    assert m.median_km == pytest.approx((0.5 + MAX_KM) / 2)  # median of two = their mean
    assert m.mean_km == pytest.approx((0.5 + MAX_KM) / 2)
    assert m.median_km_answered == pytest.approx(0.5)
    assert m.mean_km_answered == pytest.approx(0.5)
    g = 5000 * math.exp(-0.5 / 1492.7)
    assert m.geoscore_mean == pytest.approx(g / 2)
    assert m.geoscore_median == pytest.approx(g / 2)
    assert m.geoscore_mean_answered == pytest.approx(g)
    assert m.ci95 == {}


def test_status_counts_and_nothing_answered() -> None:
    records = [miss("a", 0, 0), miss("b", 0, 0, Status.UNPARSED), miss("c", 0, 0, Status.ERROR)]
    m = score(records, bootstrap=50, geography=False)
    assert (m.answered, m.refused, m.unparsed, m.errors, m.coverage) == (0, 1, 1, 1, 0.0)
    assert set(m.acc_km.values()) == {0.0}
    assert m.acc_km_answered == {}
    assert m.median_km == pytest.approx(MAX_KM)
    assert m.median_km_answered is None and m.mean_km_answered is None
    assert m.geoscore_mean == 0.0 and m.geoscore_mean_answered is None
    assert not any(k.startswith("acc_km_answered") for k in m.ci95)


def test_hand_computed_accuracies_means_and_medians() -> None:
    records = [off_by("a", 0.5), off_by("b", 30), off_by("c", 300), off_by("d", 3000)]
    m = score(records, bootstrap=0, geography=False)
    assert m.acc_km == {"1": 0.25, "25": 0.25, "200": 0.5, "750": 0.75, "2500": 0.75}
    assert m.median_km == pytest.approx(165.0)
    assert m.mean_km == pytest.approx(3330.5 / 4)
    assert m.geoscore_median == pytest.approx(
        (5000 * math.exp(-30 / 1492.7) + 5000 * math.exp(-300 / 1492.7)) / 2
    )


def test_user_thresholds_are_added_to_the_standard_ones() -> None:
    records = [off_by("a", 0.3), off_by("b", 7), off_by("c", 60)]
    m = score(records, thresholds=(10, 0.5, 25), bootstrap=50, geography=False)
    assert list(m.acc_km) == ["0.5", "1", "10", "25", "200", "750", "2500"]
    assert m.acc_km["0.5"] == pytest.approx(1 / 3)
    assert m.acc_km["10"] == pytest.approx(2 / 3)
    assert m.acc_km["25"] == pytest.approx(2 / 3)
    assert "acc_km.10" in m.ci95 and "acc_km_answered.0.5" in m.ci95
    with pytest.raises(ValueError, match="positive"):
        score(records, thresholds=(-1,), geography=False)
    assert tuple(float(t) for t in THRESHOLDS_KM) == (1.0, 25.0, 200.0, 750.0, 2500.0)


def _pattern(times: int) -> list[Record]:
    base = [(0.5, None), (30, None), (300, None), (None, Status.REFUSED)]
    out = []
    for k in range(times):
        for j, (km, status) in enumerate(base):
            i = f"{k}-{j}"
            out.append(off_by(i, km) if km is not None else miss(i, 0, 0, status or Status.ERROR))
    return out


def _width(ci: tuple[float, float]) -> float:
    return ci[1] - ci[0]


def test_confidence_intervals_contain_the_estimate_and_shrink_with_n() -> None:
    small = score(_pattern(10), bootstrap=200, geography=False)
    large = score(_pattern(160), bootstrap=200, geography=False)
    assert small.acc_km == large.acc_km  # same proportions, 40 vs 640 images
    for m in (small, large):
        for key, value in m.acc_km.items():
            lo, hi = m.ci95[f"acc_km.{key}"]
            assert lo <= value <= hi
        lo, hi = m.ci95["geoscore_mean"]
        assert lo <= m.geoscore_mean <= hi
        assert m.median_km is not None
        lo, hi = m.ci95["median_km"]
        assert lo <= m.median_km <= hi
    for key in ("acc_km.25", "acc_km.200", "geoscore_mean", "acc_km_answered.25"):
        assert _width(large.ci95[key]) < _width(small.ci95[key]) / 2, key
    assert score(_pattern(10), bootstrap=200, geography=False).ci95 == small.ci95  # seeded
    assert score(_pattern(10), bootstrap=200, seed=1, geography=False).ci95 != small.ci95


def test_records_validate_point_against_status() -> None:
    with pytest.raises(ValueError, match="needs lat and lon"):
        Record(id="a", true_lat=0, true_lon=0, status=Status.OK, lat=1.0)
    with pytest.raises(ValueError, match="has no point"):
        Record(id="a", true_lat=0, true_lon=0, status=Status.REFUSED, lat=1.0, lon=2.0)
    with pytest.raises(ValueError):
        Record(id="a", true_lat=91, true_lon=0, status=Status.REFUSED)
    with pytest.raises(ValueError, match="no records"):
        score([], geography=False)


def test_records_from_points() -> None:
    truth = {"a": (0.0, 0.0), "b": (10.0, 10.0), "c": (20.0, 20.0)}
    records = records_from_points([("b", 10.0, 11.0), ("a", 1.0, 0.0), ("z", 5, 5)], truth)
    assert [r.id for r in records] == ["a", "b", "c"]
    assert [r.status for r in records] == [Status.OK, Status.OK, Status.ERROR]
    assert (records[1].lat, records[1].lon) == (10.0, 11.0)
    with pytest.raises(ValueError, match="two points"):
        records_from_points([("a", 1, 1), ("a", 2, 2)], truth)


# -- country, continent and the per-continent breakdown -----------------------------------------


def _fake_reverse_many(lats: Sequence[float], lons: Sequence[float]) -> list[SimpleNamespace]:
    """West of 0° is the US (NA), east is France (EU), south of -60° is the open sea."""
    out = []
    for lat, lon in zip(lats, lons, strict=True):
        if lat < -60:
            out.append(SimpleNamespace(country_code=None, country=None, continent=None))
        elif lon < 0:
            out.append(SimpleNamespace(country_code="US", country="United States", continent="NA"))
        else:
            out.append(SimpleNamespace(country_code="FR", country="France", continent="EU"))
    return out


def test_country_and_continent_rules_with_a_stub_geocoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ethan.geocode, "reverse_many", _fake_reverse_many, raising=False)
    records = [
        ok("eu-hit", 10, 10, 10.001, 10.001),  # FR -> FR, 0.16 km
        ok("eu-wrong", 10, 10, 10, -10),  # FR -> US
        miss("eu-refused", 10, 10),  # FR, unanswered: a miss
        ok("na-hit", 10, -10, 12, -10),  # US -> US, 222 km
        ok("na-at-sea", 10, -10, -70, -10),  # predicted at sea: a miss
        ok("sea", -70, 0, -70, 0.001),  # true point at sea: left out of the denominators
    ]
    m = score(records, bootstrap=200)
    assert m.country_acc == pytest.approx(2 / 5)
    assert m.continent_acc == pytest.approx(2 / 5)
    lo, hi = m.ci95["country_acc"]
    assert lo <= 0.4 <= hi
    assert set(m.per_continent) == {"EU", "NA", "unknown"}
    eu, na, sea = m.per_continent["EU"], m.per_continent["NA"], m.per_continent["unknown"]
    assert (eu["n"], eu["answered"], na["n"], sea["n"]) == (3, 2, 2, 1)
    assert eu["acc_km.1"] == pytest.approx(1 / 3)
    assert na["acc_km.750"] == pytest.approx(1 / 2)
    assert sea["acc_km.1"] == 1.0
    assert eu["median_km"] == pytest.approx(float(distances_km(records[1:2])[0]))
    assert eu["geoscore_mean"] == pytest.approx(float(geoscore(distances_km(records[:3])).mean()))

    off = score(records, bootstrap=0, geography=False)
    assert off.country_acc is None and off.continent_acc is None and off.per_continent == {}


@needs_geocoder
def test_country_and_continent_with_the_offline_reverse_geocoder() -> None:
    paris = (48.8566, 2.3522)
    records = [
        ok("lyon", *paris, 45.764, 4.8357),  # France, Europe
        ok("berlin", *paris, 52.52, 13.405),  # Germany, Europe
        ok("new-york", *paris, 40.7128, -74.006),  # USA, North America
        miss("refused", *paris),
        ok("tokyo", 35.6762, 139.6503, 35.0, 135.75),  # Kyoto: Japan, Asia
    ]
    m = score(records, bootstrap=200)
    assert m.country_acc == pytest.approx(2 / 5)
    assert m.continent_acc == pytest.approx(3 / 5)
    assert m.per_continent["EU"]["n"] == 4 and m.per_continent["AS"]["n"] == 1
    assert m.per_continent["AS"]["acc_km.750"] == 1.0


# -- real data: a real model's stated coordinates -----------------------------------------------


def _streetview_records(model: str) -> list[Record]:
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        truth = {r["filename"]: (float(r["lat"]), float(r["lng"])) for r in csv.DictReader(fh)}
    records = []
    path = STREETVIEW / "responses" / f"{model}.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            tlat, tlon = truth[row["filename"]]
            parsed = parse_answer(row["model_response"])
            point = next((g for g in parsed.guesses if g.has_point()), None)
            if parsed.ok and point is not None:
                assert point.lat is not None and point.lon is not None
                records.append(ok(row["filename"], tlat, tlon, point.lat, point.lon))
            else:
                status = Status.UNPARSED if parsed.ok else parsed.status
                records.append(miss(row["filename"], tlat, tlon, status))
    return records


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def test_real_gpt4o_answers_score_sensibly() -> None:
    records = _streetview_records("gpt-4o")
    assert len(records) == 200
    d = distances_km(records)
    for r, km in zip(records, d.tolist(), strict=True):  # vectorised == scalar formula
        if r.lat is not None and r.lon is not None:
            assert km == pytest.approx(_haversine(r.true_lat, r.true_lon, r.lat, r.lon))

    geography = _has_reverse_geocoder()
    m = score(records, bootstrap=200, geography=geography)
    assert m.n == 200 and m.coverage == pytest.approx(0.98)
    assert m.refused + m.unparsed + m.errors == 4
    acc = [m.acc_km[k] for k in ("1", "25", "200", "750", "2500")]
    assert acc == sorted(acc) and len(set(acc)) == 5  # strictly increasing
    assert 0.0 < acc[0] < 0.2 and 0.8 < acc[-1] < 1.0
    assert all(m.acc_km_answered[k] >= m.acc_km[k] for k in m.acc_km)
    assert m.acc_km["25"] == pytest.approx(float(np.mean(np.nan_to_num(d, nan=1e9) <= 25)))
    assert m.median_km_answered is not None and m.median_km is not None
    assert 50 < m.median_km_answered <= m.median_km < 1000
    assert m.mean_km is not None and m.mean_km_answered is not None
    assert m.mean_km > m.mean_km_answered
    assert 2500 < m.geoscore_mean < 5000
    if geography:
        assert m.country_acc is not None and m.continent_acc is not None
        assert 0.5 < m.country_acc <= m.continent_acc <= 1.0
        assert sum(int(row["n"]) for row in m.per_continent.values()) == 200
