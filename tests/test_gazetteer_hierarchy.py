"""The gazetteer at town precision, with every field of a guess constraining the others, and
stated coordinates checked against the country named with them (issue 10).

Each test names the failure kind it guards against; the examples are our own."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ethan.geo import haversine_km
from ethan.geocode import Gazetteer, Resolved, resolve_guesses
from ethan.geocode.check import OUTSIDE_KM, km_outside, named_country
from ethan.geocode.countries import country_table
from ethan.geocode.index import FORMAT_VERSION, cache_path, load_index
from ethan.parse import parse_answer
from ethan.types import Guess, Hypothesis, PointSource, Status
from tests.conftest import SHARED, STREETVIEW


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer()  # the session's compiled folder (tests/conftest.py)


def near(hit: Resolved | Hypothesis | None, lat: float, lon: float, km: float = 15) -> bool:
    assert hit is not None
    d = haversine_km(hit.lat, hit.lon, lat, lon)
    assert d <= km, f"{getattr(hit, 'name', hit)} is {d:.0f} km from ({lat}, {lon})"
    return True


# -- small places are in the default index, not the country's centre ----------------------
@pytest.mark.parametrize(
    ("guess", "lat", "lon"),
    [
        (Guess(city="Hallstatt", country="Austria"), 47.562, 13.649),  # ~750 people
        (Guess(city="Giethoorn", country="Netherlands"), 52.740, 6.079),
        (Guess(city="Kaysersberg", country="France"), 48.138, 7.264),
        (Guess(city="Portree", country="Scotland"), 57.413, -6.194),
        (Guess(city="Oia", country="Greece"), 36.463, 25.376),
    ],
)
def test_small_towns_resolve_to_the_town(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "city"
    assert near(hit, lat, lon, 5)


# US hamlets below GeoNames' threshold come from the post office (ZIP) table
@pytest.mark.parametrize(
    ("guess", "lat", "lon", "km"),
    [
        (Guess(city="Stehekin", region="Washington", country="USA"), 48.309, -120.656, 10),
        (Guess(city="Supai", region="AZ", country="USA"), 36.236, -112.689, 10),
        # names the post office accepts for another town's ZIP code (at that ZIP's point)
        (Guess(city="Lake Buena Vista", region="FL", country="USA"), 28.37, -81.52, 10),
        (Guess(city="Little Torch Key", region="Florida", country="USA"), 24.66, -81.40, 15),
    ],
)
def test_us_hamlets_from_post_offices(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float, km: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "city" and near(hit, lat, lon, km)


# a county or district named with only its country: the division, when the country has one
# of that name (or several side by side); never one of two far apart
@pytest.mark.parametrize(
    ("guess", "lat", "lon", "km"),
    [
        (Guess(place="Cornwall", country="United Kingdom"), 50.40, -4.90, 60),
        (Guess(city="Cornwall", country="UK"), 50.40, -4.90, 60),
        (Guess(place="Lanarkshire", country="United Kingdom"), 55.67, -3.78, 40),
        (Guess(city="Ardèche", country="France"), 44.75, 4.42, 40),
    ],
)
def test_a_division_named_with_its_country_only(
    gaz: Gazetteer, guess: Guess, lat: float, lon: float, km: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "city" and near(hit, lat, lon, km)


def test_a_division_name_shared_far_apart_stays_at_the_country(gaz: Gazetteer) -> None:
    # Bibb County is in Georgia and in Alabama, 200 km apart: neither is the answer
    hit = gaz.resolve(Guess(city="Bibb County", country="USA"))
    assert hit is not None and hit.level == "country" and hit.country_code == "US"


def test_a_post_office_never_beats_a_town_or_landmark_of_its_name(gaz: Gazetteer) -> None:
    # Springfield has post offices in many states; the largest GeoNames town still wins
    hit = gaz.resolve(Guess(city="Springfield", country="USA"))
    assert hit is not None and near(hit, 37.215, -93.298, 10)  # Missouri
    # the Yellowstone National Park post office sits at Mammoth; the park's own point wins
    park = gaz.resolve(Guess(city="Yellowstone National Park", region="WY", country="USA"))
    assert park is not None and park.level == "landmark"


# -- a name is matched only inside the region and country named with it ---------------------
def test_same_named_towns_ranked_by_the_named_region(gaz: Gazetteer) -> None:
    # two San Fernandos are provincial capitals; La Union's is the smaller one
    hit = gaz.resolve(Guess(city="San Fernando", region="La Union", country="Philippines"))
    assert near(hit, 16.616, 120.317, 10)
    hit = gaz.resolve(Guess(city="San Fernando", region="Pampanga", country="Philippines"))
    assert near(hit, 15.03, 120.69, 15)


def test_a_town_missing_from_the_named_region_gives_the_region_not_a_namesake(
    gaz: Gazetteer,
) -> None:
    # no Hamilton of 500+ people in Tasmania: the island, not Hamilton in Victoria
    hit = gaz.resolve(Guess(city="Hamilton", region="Tasmania", country="Australia"))
    assert hit is not None and hit.level == "region" and hit.lat < -40


def test_a_municipality_named_as_the_town(gaz: Gazetteer) -> None:
    # Benito Juárez is Cancún's municipality; a dozen towns elsewhere in Mexico share the name
    hit = gaz.resolve(Guess(city="Benito Juárez", region="Quintana Roo", country="Mexico"))
    assert near(hit, 21.16, -86.85, 30)


def test_a_place_next_to_a_same_named_town_in_a_territory(gaz: Gazetteer) -> None:
    # a hamlet called Carolina is in Rhode Island; Trujillo Alto borders Carolina, Puerto Rico
    alone = gaz.resolve(Guess(city="Carolina", country="USA"))
    assert alone is not None and alone.country_code == "US"
    hit = gaz.resolve(Guess(place="Trujillo Alto", city="Carolina", country="USA"))
    assert hit is not None and hit.country_code == "PR" and hit.level == "place"
    assert near(hit, 18.355, -66.007, 5)


def test_an_area_named_as_the_town_wins_over_a_near_miss_town(gaz: Gazetteer) -> None:
    # Bali is a province; one letter away lies Baki, a town in Central Java
    hit = gaz.resolve(Guess(city="Bali", country="Indonesia"))
    assert hit is not None and hit.level in ("region", "landmark") and near(hit, -8.4, 115.1, 80)


def test_an_unknown_hamlet_does_not_jump_to_a_town_two_letters_away(gaz: Gazetteer) -> None:
    # one slip of the keyboard is a typo; two are more often another, unlisted hamlet
    hit = gaz.resolve(Guess(city="Fairfex", region="Virginia", country="USA"))
    assert hit is not None and hit.level == "city" and near(hit, 38.85, -77.31, 10)  # a typo
    hit = gaz.resolve(Guess(city="Faurfex", region="Virginia", country="USA"))
    assert hit is not None and hit.level == "region"  # two edits: not a typo we trust


# -- territories and constituent countries, whichever way they are named ---------------------
@pytest.mark.parametrize(
    ("guess", "code", "lat", "lon"),
    [
        (Guess(city="Charlotte Amalie", country="United States"), "VI", 18.342, -64.931),
        (Guess(city="Charlotte Amalie", country="U.S. Virgin Islands"), "VI", 18.342, -64.931),
        (Guess(city="Tórshavn", country="Denmark"), "FO", 62.010, -6.772),
        (Guess(city="Ilulissat", country="Denmark"), "GL", 69.220, -51.099),
        (Guess(city="Ilulissat", country="Greenland"), "GL", 69.220, -51.099),
        (Guess(city="Saint-Denis", region="Réunion", country="France"), "RE", -20.882, 55.450),
        (Guess(city="Kowloon", country="China"), "HK", 22.317, 114.183),
        (Guess(city="Tamuning", region="Guam", country="US"), "GU", 13.488, 144.781),
        (Guess(city="Perth", country="Scotland"), "GB", 56.395, -3.431),
    ],
)
def test_territories_and_constituent_countries(
    gaz: Gazetteer, guess: Guess, code: str, lat: float, lon: float
) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.country_code == code
    assert near(hit, lat, lon, 10)


def test_a_region_of_a_territory_under_its_parent_country(gaz: Gazetteer) -> None:
    hit = gaz.resolve(Guess(city="Old Town", region="Ponce", country="United States"))
    assert hit is not None and hit.country_code == "PR" and near(hit, 18.01, -66.61, 25)


# -- placeholders name no place ------------------------------------------------------------
@pytest.mark.parametrize(
    "guess",
    [
        Guess(city="Anytown", region="Any State", country="USA"),
        Guess(city="Rural area", country="USA"),
        Guess(place="Suburban area", city="Unknown", country="USA"),
    ],
)
def test_placeholders_give_the_country(gaz: Gazetteer, guess: Guess) -> None:
    hit = gaz.resolve(guess)
    assert hit is not None and hit.level == "country" and hit.country_code == "US"


# -- stated coordinates against the named country ---------------------------------------------
def test_a_dropped_minus_sign_is_repaired(gaz: Gazetteer) -> None:
    (h,) = resolve_guesses([Guess(city="Montevideo", country="Uruguay", lat=-34.9, lon=56.2)], gaz)
    assert (h.lat, h.lon) == (-34.9, -56.2) and h.source is PointSource.STATED
    assert h.check is not None and h.check.startswith("repaired: longitude sign")


def test_swapped_latitude_and_longitude_are_repaired(gaz: Gazetteer) -> None:
    (h,) = resolve_guesses([Guess(city="Nairobi", country="Kenya", lat=36.82, lon=-1.29)], gaz)
    assert (h.lat, h.lon) == (-1.29, 36.82)
    assert h.check is not None and h.check.startswith("repaired: latitude and longitude swapped")


def test_a_copied_example_point_gives_way_to_the_names(gaz: Gazetteer) -> None:
    # the Eiffel Tower's coordinates written under a guess of Cusco, Peru
    guess = Guess(city="Cusco", country="Peru", lat=48.8584, lon=2.2945)
    (h,) = resolve_guesses([guess], gaz)
    assert h.source is PointSource.GEOCODED and h.level == "city"
    assert near(h, -13.53, -71.97, 10)
    assert h.check is not None and h.check.startswith("replaced:") and "Peru" in h.check


def test_a_point_that_fits_stays_unflagged(gaz: Gazetteer) -> None:
    guesses = [
        Guess(country="Italy", lat=45.44, lon=12.33),
        Guess(country="USA", lat=18.34, lon=-64.93),  # St Thomas: a US territory
        Guess(country="Norway", lat=59.0, lon=5.5),  # a few km off the coast
        Guess(lat=10.0, lon=10.0),  # no country named: nothing to check against
    ]
    hyps = resolve_guesses(guesses, gaz)
    assert [h.check for h in hyps] == [None, None, None, None]
    assert [(h.lat, h.lon) for h in hyps] == [(g.lat, g.lon) for g in guesses]


def test_a_point_outside_with_no_fitting_name_is_kept_and_flagged() -> None:
    class Nothing:
        def resolve(self, guess: Guess) -> Resolved | None:
            return None

    (h,) = resolve_guesses([Guess(country="Chile", lat=40.0, lon=100.0)], Nothing())
    assert (h.lat, h.lon) == (40.0, 100.0) and h.source is PointSource.STATED
    assert h.check is not None and h.check.startswith("outside:")


def test_a_geocoded_point_outside_the_named_country_falls_back_to_it() -> None:
    class Abroad:  # an online service that matched a namesake abroad
        def resolve(self, guess: Guess) -> Resolved | None:
            if guess.city:
                return Resolved(lat=43.10, lon=-76.15, level="city", name="Syracuse, US")
            return Resolved(lat=41.9, lon=12.5, level="country", name="Italy", country_code="IT")

    (h,) = resolve_guesses([Guess(city="Syracuse", country="Italy")], Abroad())
    assert (h.lat, h.lon) == (41.9, 12.5) and h.level == "country"
    assert h.check is not None and h.check.startswith("misfit:")


def test_old_predictions_without_the_check_field_still_load() -> None:
    old = {"lat": 1.0, "lon": 2.0, "source": "stated", "level": None, "sample": 0}
    assert Hypothesis.model_validate(old).check is None


# -- the compiled index is versioned ----------------------------------------------------------
def test_an_index_of_another_format_is_rebuilt(tmp_path: Path) -> None:
    path = cache_path(tmp_path, 15000)
    assert f"-v{FORMAT_VERSION}-" in path.name
    path.write_text(json.dumps({"format": FORMAT_VERSION - 1}), encoding="utf-8")
    index = load_index(15000, tmp_path)
    assert len(index.city_name) > 20000 and index.districts
    assert json.loads(path.read_bytes())["format"] == FORMAT_VERSION


# -- every shared answer: no geocoded point far outside the country it names ----------------
def _shared_guesses() -> list[Guess]:
    guesses: list[Guess] = []
    for path in sorted((STREETVIEW / "responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                parsed = parse_answer(row["model_response"])
                if parsed.status is Status.OK:
                    guesses.extend(parsed.guesses)
    for path in sorted((SHARED / "corpus" / "imageo-d3" / "responses").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            info = (json.loads(line).get("location_info") or {}).get("reverse_geocoding") or {}
            a = info.get("address") or {}
            if isinstance(a, dict):
                fields = {k: str(a[k]) if a.get(k) else None for k in a}
                guesses.append(
                    Guess(
                        place=fields.get("street"),
                        city=fields.get("city"),
                        region=fields.get("state"),
                        country=fields.get("country"),
                    )
                )
    return guesses


def test_no_geocoded_point_lies_outside_the_country_named_with_it(gaz: Gazetteer) -> None:
    table = country_table()
    checked = 0
    bad: list[str] = []
    for guess in _shared_guesses():
        iso = named_country(guess, table)
        if iso is None:
            continue
        hit = gaz.resolve(guess.model_copy(update={"lat": None, "lon": None}))
        if hit is None:
            continue
        checked += 1
        km = 0.0 if hit.country_code == iso else km_outside(hit.lat, hit.lon, iso)
        if km > OUTSIDE_KM:
            bad.append(f"{guess.label()} -> {hit.name} ({km:.0f} km outside {iso})")
    assert checked > 3000
    assert not bad, bad[:10]
