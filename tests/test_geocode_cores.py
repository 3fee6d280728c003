"""A described feature ("Bled Castle", "Port of Dubrovnik") resolves to the place its
proper name is, inside the area named with it; a street or a person's name never becomes a
town away from the named city."""

from __future__ import annotations

import pytest

from ethan.geocode import Gazetteer
from ethan.geocode.cores import cores
from ethan.types import Guess
from tests.conftest import assert_near


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bled Castle", ["bled"]),
        ("Port of Dubrovnik", ["dubrovnik"]),
        ("Tallinn Old Town", ["tallinn old", "tallinn"]),
        ("Grand Canyon South Rim", ["grand canyon"]),  # "grand" alone describes
        ("Upper Antelope Canyon", ["antelope"]),
        ("Cathedral Cove", []),  # kind words only: no proper name to read
        ("Sedona Red Rocks", ["sedona red"]),  # "Red" is part of the name
        ("Bled", []),  # no kind word at an end: the caller's own lookup
        ("North Shore", []),
    ],
)
def test_cores_drop_kind_words_from_the_ends(text: str, expected: list[str]) -> None:
    assert list(cores(text)) == expected


@pytest.mark.parametrize(
    ("guess", "lat", "lon", "km"),
    [
        (Guess(place="Chamonix Valley", country="France"), 45.92, 6.87, 5),
        (Guess(place="Tromsø harbour", country="Norway"), 69.65, 18.96, 5),
        (Guess(place="Český Krumlov Castle", country="Czechia"), 48.81, 14.32, 5),
        (Guess(place="Port of Piraeus", country="Greece"), 37.94, 23.64, 5),
        (Guess(place="Sighisoara Citadel", country="Romania"), 46.22, 24.79, 5),
        # a feature whose name holds the proper name: the park, not a town of the name
        (Guess(place="Zion Canyon", country="USA"), 37.30, -113.03, 20),
        (Guess(place="Mount Cook National Park", country="New Zealand"), -43.6, 170.14, 15),
    ],
)
def test_a_described_feature_resolves_to_its_place(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float, km: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level in ("landmark", "place")
    assert_near(hit, lat, lon, km)


def test_a_street_named_after_someone_stays_in_the_named_city(gaz: Gazetteer) -> None:
    # "Washington" is a town too, but the street is in the city named beside it
    hit = gaz.resolve(Guess(place="Washington Street", city="Hoboken", region="NJ", country="USA"))
    assert hit is not None and hit.level == "city"
    assert_near(hit, 40.74, -74.03, 3)


def test_a_core_outside_the_named_region_is_not_taken(gaz: Gazetteer) -> None:
    # "Point" of "Glacier Point Road" must not become a Point landmark elsewhere in the
    # state; the road stays with the park named beside it
    hit = gaz.resolve(
        Guess(place="Glacier Point Road", city="Yosemite National Park", region="CA", country="USA")
    )
    assert hit is not None
    assert_near(hit, 37.75, -119.59, 30)


@pytest.mark.parametrize(
    "guess",
    [
        Guess(place="Oxford Street", country="United Kingdom"),  # not the town of Oxford
        Guess(place="Kennedy Airport", country="USA"),  # not the Kennedy Space Center
        Guess(place="Jackson Square", region="Louisiana", country="USA"),  # not Jackson, LA
        Guess(place="Elizabeth Street", country="Australia"),  # not Elizabeth, SA
    ],
)
def test_a_street_square_or_airport_named_after_someone_is_no_town(
    gaz: Gazetteer, guess: Guess
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level in ("region", "country")


def test_a_valley_named_after_its_river_is_not_the_village_of_that_name(
    gaz: Gazetteer,
) -> None:
    # the village Loiré (accents fold away) lies 130 km from the Loire Valley
    hit = gaz.resolve(Guess(place="Loire Valley", country="France"))
    assert hit is not None
    assert_near(hit, 47.35, 0.70, 30)


# exact names first: a near-miss of a feature never beats a town spelt exactly
@pytest.mark.parametrize(
    ("guess", "lat", "lon"),
    [
        (Guess(place="Miami Beach"), 25.79, -80.13),  # not Diani Beach, Kenya
        (Guess(place="Warburg", country="Germany"), 51.49, 9.15),  # not the Wartburg
        (Guess(place="Santos"), -23.96, -46.33),  # not the Säntis
        (Guess(place="Sekong", country="Laos"), 15.35, 106.72),  # not the Mekong
    ],
)
def test_an_exact_town_beats_a_near_miss_of_a_feature(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level in ("place", "city")
    assert_near(hit, lat, lon, 5)


@pytest.mark.parametrize(
    ("guess", "area"),
    [
        (Guess(place="Golden Gate Bridge", region="Texas", country="USA"), "US.TX"),
        (Guess(place="Mount Fuji", region="Hokkaido", country="Japan"), "JP.12"),
    ],
)
def test_a_feature_outside_the_named_region_gives_the_region(
    gaz: Gazetteer, guess: Guess, area: str
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "region" and hit.area == area
