"""The shipped table of landmarks and natural features is consistent with the rest of the
gazetteer: every point lies in the country it is listed under, and a name means one feature
in a country."""

from __future__ import annotations

from collections import defaultdict

import pytest

from ethan.geo import haversine_km
from ethan.geocode import Gazetteer
from ethan.geocode.check import km_outside
from ethan.geocode.landmarks import KINDS, WATER_KINDS, Landmark, landmark_table
from ethan.types import Guess
from tests.conftest import assert_near

LAND_SLACK_KM = 10.0  # coarse country outlines: a point on a coast may fall just outside
WATER_SLACK_KM = 150.0  # a reef, bay or sound lies off the coast by nature


@pytest.fixture(scope="module")
def rows() -> list[Landmark]:
    return landmark_table().landmarks


def test_every_row_has_a_known_kind_and_real_countries(rows: list[Landmark]) -> None:
    from ethan.geocode.countries import country_table

    table = country_table()
    assert len(rows) > 300
    for row in rows:
        assert row.kind in KINDS, row
        for iso in row.countries:
            assert table.lookup(iso, fuzzy=False) == iso, (row.name, iso)


def test_every_point_lies_in_the_first_country_listed(rows: list[Landmark]) -> None:
    far = []
    for row in rows:
        slack = WATER_SLACK_KM if row.kind in WATER_KINDS else LAND_SLACK_KM
        out = km_outside(row.lat, row.lon, row.country)
        if out > slack:
            far.append(f"{row.name}: {out:.0f} km outside {row.country}")
    assert not far, far


def test_a_name_means_one_feature(rows: list[Landmark]) -> None:
    table = landmark_table()
    owners: dict[str, set[int]] = defaultdict(set)
    for key, found in table.keys().items():
        owners[key].update(found)
    shared = {k: sorted(rows[i].name for i in v) for k, v in owners.items() if len(v) > 1}
    # one name for two features is allowed only in different countries
    for key, names in shared.items():
        countries = [rows[i].country for i in owners[key]]
        assert len(set(countries)) == len(countries), (key, names)


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer()


# natural features, parks and sites named with only their country (or region)
@pytest.mark.parametrize(
    ("guess", "lat", "lon", "km"),
    [
        (Guess(place="Aletsch Glacier", country="Switzerland"), 46.50, 8.03, 15),
        (Guess(place="Vatnajökull National Park", country="Iceland"), 64.4, -16.8, 60),
        (Guess(city="Isle of Mull", country="Scotland"), 56.45, -5.95, 30),
        (Guess(place="Tsingy de Bemaraha", country="Madagascar"), -18.9, 44.8, 40),
        (Guess(place="Chaco Canyon", region="New Mexico", country="USA"), 36.06, -107.96, 15),
        (Guess(place="Kata Tjuta", country="Australia"), -25.30, 130.73, 15),
        (Guess(place="Gorges du Verdon", country="France"), 43.76, 6.33, 15),
        (Guess(place="Mekong Delta", country="Vietnam"), 10.0, 105.8, 80),
        (Guess(place="Mount Pilatus", country="Switzerland"), 46.98, 8.25, 10),
    ],
)
def test_features_resolve_to_their_own_point(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float, km: float
) -> None:
    assert_near(gaz.resolve(guess), lat, lon, km)


def test_a_range_or_desert_never_beats_the_town_or_region_named_with_it(gaz: Gazetteer) -> None:
    # a range's point is no more precise than the state named beside it
    hit = gaz.resolve(Guess(place="Rocky Mountains", region="Colorado", country="USA"))
    assert hit is not None and hit.level == "region" and hit.area == "US.CO"
    # ...nor than the town: the town's own point
    hit = gaz.resolve(Guess(place="Sahara Desert", city="Douz", country="Tunisia"))
    assert hit is not None and hit.level == "city"
    assert_near(hit, 33.46, 9.02, 10)
    # alone with its country, the range is the answer, at region precision
    hit = gaz.resolve(Guess(place="Rocky Mountains", country="USA"))
    assert hit is not None and hit.level == "region" and hit.area is None
    assert_near(hit, 43.0, -110.0, 100)


def test_a_feature_of_several_countries_stays_in_the_one_named(gaz: Gazetteer) -> None:
    # the Alps' point lies in Switzerland: "the Alps, Austria" must stay in Austria
    for country, iso in (("Austria", "AT"), ("France", "FR"), ("Germany", "DE")):
        hit = gaz.resolve(Guess(place="Alps", country=country))
        assert hit is not None and hit.country_code == iso
        assert km_outside(hit.lat, hit.lon, iso) == 0
        assert hit.level == "region"  # its part in that country ("the French Alps")
    # a range named by another of its names finds the part too
    hit = gaz.resolve(Guess(place="Rocky Mountains", country="Canada"))
    assert hit is not None and hit.country_code == "CA"
    assert_near(hit, 51.4, -116.3, 150)
    # a border feature named with its other country is reported in that country
    hit = gaz.resolve(Guess(place="Lake Titicaca", country="Bolivia"))
    assert hit is not None and hit.country_code == "BO" and hit.name.endswith("Bolivia")


def test_the_town_named_on_an_island_is_more_precise_than_the_island(gaz: Gazetteer) -> None:
    island = gaz.resolve(Guess(place="Isle of Skye", country="United Kingdom"))
    assert island is not None and island.level == "landmark"
    town = gaz.resolve(Guess(place="Isle of Skye", city="Portree", country="United Kingdom"))
    assert town is not None and town.level == "city"
    assert_near(town, 57.41, -6.19, 5)


@pytest.mark.parametrize(
    ("guess", "lat", "lon"),
    [
        (Guess(place="Tumon Bay", country="United States"), 13.51, 144.80),  # Guam
        (Guess(place="Victoria Peak", country="China"), 22.29, 114.17),  # Hong Kong
        (Guess(place="Tumon Bay", country="Guam"), 13.51, 144.80),
    ],
)
def test_a_territory_s_features_resolve_whichever_way_it_is_named(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "landmark"
    assert_near(hit, lat, lon, 5)


def test_no_feature_name_is_a_large_town_of_its_country_elsewhere(rows: list[Landmark]) -> None:
    # "Guilin" as another name of the Li River would move the city of Guilin 60 km
    towns = Gazetteer(landmarks=False)
    idx = towns.index
    clashes = []
    for key, found in landmark_table().keys().items():
        for i in found:
            feature = rows[i]
            towns_of_name = [
                r for r in idx.main_keys.get(key) if idx.city_country[r] in feature.countries
            ]
            km = [
                haversine_km(feature.lat, feature.lon, idx.city_lat[r], idx.city_lon[r])
                for r in towns_of_name
            ]
            if any(d <= 25 for d in km):
                continue  # the feature is at a town of its name (the Hollywood Sign)
            for row in towns_of_name:
                if idx.city_pop[row] >= 100_000:
                    clashes.append(f"{key!r} ({feature.name}) is also {idx.city_name[row]}")
    assert not clashes, clashes
