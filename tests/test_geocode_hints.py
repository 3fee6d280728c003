"""Hints from the reasoning: a broad guess narrowed, and a bare town name placed by it.

Examples of our own (not the corpus's failures): each mechanism, and each guard against a
wrong reading, through ``resolve_guesses`` (the call the pipeline makes) and through
``Geolocator.interpret``.
"""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from ethan.backends.base import Choice, ModelOutput
from ethan.geo import haversine_km
from ethan.geocode import Gazetteer, resolve_guesses
from ethan.geocode.check import OUTSIDE_KM, km_outside, named_country
from ethan.geocode.countries import country_table
from ethan.geocode.hints import narrow, region_hint
from ethan.parse import parse_answer
from ethan.pipeline import Geolocator
from ethan.types import Guess, Hypothesis, PointSource, Status
from tests.conftest import SHARED, STREETVIEW


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer()  # the session's compiled folder (tests/conftest.py)


def one(guess: Guess, gaz: Gazetteer, reasoning: str) -> Hypothesis:
    (h,) = resolve_guesses([guess], gaz, reasoning=reasoning)
    return h


def near(h: Hypothesis, lat: float, lon: float, km: float = 15.0) -> bool:
    return haversine_km(h.lat, h.lon, lat, lon) <= km


# -- a country or region narrowed to a place inside it ---------------------------------------
def test_country_narrowed_to_the_town_the_reasoning_names(gaz: Gazetteer) -> None:
    text = (
        "The red soil and the gum trees say Australia. The shopfronts look like those of "
        "Queensland; I would put it on the outskirts of Townsville, perhaps in Townsville."
    )
    h = one(Guess(country="Australia"), gaz, text)
    assert h.source is PointSource.MENTIONED and h.level == "city"
    assert h.city == "Townsville" and h.country == "Australia"
    assert near(h, -19.26, 146.82)
    # the same names without the reasoning: the country's own point
    plain = one(Guess(country="Australia"), gaz, "")
    assert plain.source is PointSource.CENTROID and plain.level == "country"


def test_region_narrowed_only_inside_the_region(gaz: Gazetteer) -> None:
    guess = Guess(region="Bavaria", country="Germany")
    outside = (
        "It could be Salzburg, since Salzburg has this style, or Stuttgart, Stuttgart and "
        "Stuttgart."
    )  # Austria, and another German state: never inside Bavaria
    assert one(guess, gaz, outside).source is PointSource.CENTROID
    text = "The Alps behind the church suggest the area of Garmisch-Partenkirchen. " + outside
    h = one(guess, gaz, text + " I keep coming back to Garmisch-Partenkirchen.")
    assert h.source is PointSource.MENTIONED and h.level == "city"
    assert h.region == "Bavaria" and h.city == "Garmisch-Partenkirchen"
    assert near(h, 47.49, 11.10)


def test_never_a_place_outside_the_named_country(gaz: Gazetteer) -> None:
    text = "This reminds me of Seattle. Seattle has such houses, yet the flag says Canada."
    h = one(Guess(country="Canada"), gaz, text)
    assert h.source is PointSource.CENTROID and h.level == "country"
    assert km_outside(h.lat, h.lon, "CA") == 0


def test_a_region_of_the_named_country_wins_over_a_namesake_country(gaz: Gazetteer) -> None:
    text = "Pine forests and red clay: this looks like Georgia. The road signs fit Georgia too."
    h = one(Guess(country="United States"), gaz, text)
    assert h.source is PointSource.MENTIONED and h.level == "region"
    assert h.region == "Georgia" and near(h, 33.0, -84.0, 250)


def test_the_named_country_itself_is_no_region_of_it(gaz: Gazetteer) -> None:
    text = (
        "This is clearly Mexico: the signs are Mexican. Mexico has many such towns; maybe "
        "Oaxaca, in the hills of Oaxaca."
    )  # "Mexico" three times is the country, not the State of México
    h = one(Guess(country="MEX"), gaz, text)  # the country by its code
    assert h.region == "Oaxaca" and near(h, 17.06, -96.72, 60)


def test_the_most_named_place_wins_and_a_region_votes_for_its_towns(gaz: Gazetteer) -> None:
    text = (
        "The architecture is Spanish. Córdoba or Sevilla? The light is Andalusian, and "
        "Sevilla has these orange trees."
    )
    h = one(Guess(country="Spain"), gaz, text)
    assert h.city == "Sevilla" and near(h, 37.38, -5.97)
    # a town in a region that is named too gets that region's votes over a lone mention
    text = "Perhaps Valladolid. Perhaps Burgos. The plains of Castilla y León, near Burgos."
    found = narrow(gaz.country("Spain") or pytest.fail(), Guess(country="Spain"), text, gaz)
    assert found is not None and found.resolved.name.startswith("Burgos, ")
    assert found.text == "Perhaps Burgos"  # as written; the hypothesis gets the town's name
    assert found.count == 2 and found.support == 3


def test_part_of_another_name_is_no_mention(gaz: Gazetteer) -> None:
    text = "A Texas Roadhouse beside a bank styled like the Chicago Board of Trade."
    h = one(Guess(country="United States"), gaz, text)
    assert h.source is PointSource.CENTROID and h.level == "country"
    # a town named after a person: Franklin, Tennessee has 80,000 people
    text = "A statue of Benjamin Franklin stands in front of the courthouse."
    assert one(Guess(country="United States"), gaz, text).source is PointSource.CENTROID
    # the same names on their own are mentions; a sentence may open with a hedge
    h = one(Guess(country="United States"), gaz, "A roadhouse in Texas, a bank as in Chicago.")
    assert h.source is PointSource.MENTIONED and h.city == "Chicago"
    h = one(Guess(country="United States"), gaz, "Bluegrass and horses. Probably Lexington.")
    assert h.city == "Lexington" and near(h, 38.05, -84.46)  # Kentucky, the largest


def test_capitalised_first_words_and_sign_text_are_no_mentions(gaz: Gazetteer) -> None:
    # Brick, New Jersey is a town of 75,000; here it is the first word of a sentence
    text = "Brick buildings line the street. Brick is common in the Midwest."
    assert one(Guess(country="United States"), gaz, text).source is PointSource.CENTROID
    # words in capitals are read off signs, not named by the model
    text = "A banner reads LYON in big letters; the architecture is French."
    assert one(Guess(country="France"), gaz, text).source is PointSource.CENTROID
    # a large city is a mention even as a first word
    text = "Lyon comes to mind: the traboules and the Saône."
    assert one(Guess(country="France"), gaz, text).city == "Lyon"


def test_fragments_of_the_guess_own_names_are_not_read_again(gaz: Gazetteer) -> None:
    # the guess's unknown town; "Springs" alone would be a town of Gauteng
    guess = Guess(city="Zzyzx Springs", country="South Africa")
    text = "The veld and the mine dumps: Zzyzx Springs, east of the big city."
    assert one(guess, gaz, text).level == "country"


def test_regions_carry_their_index_key(gaz: Gazetteer) -> None:
    bavaria = gaz.region("Bavaria", "Germany")
    assert bavaria is not None and bavaria.area == "DE.02"
    paris = gaz.search("Paris, France")
    assert paris is not None and paris.area is None


def test_a_region_without_a_checkable_key_is_left_alone(gaz: Gazetteer) -> None:
    from ethan.geocode import Resolved

    broad = Resolved(lat=48.5, lon=11.5, level="region", name="Bavaria", country_code="DE")
    text = "Near Garmisch-Partenkirchen, in the Alps of Garmisch-Partenkirchen."
    assert narrow(broad, Guess(region="Bavaria", country="Germany"), text, gaz) is None


# -- a bare town name placed by the region the reasoning names -------------------------------
def test_bare_town_name_placed_in_the_region_named(gaz: Gazetteer) -> None:
    guess = Guess(city="Portland", country="United States")
    text = "The moss and the Atlantic light suggest Maine; lobster shacks are typical of Maine."
    h = one(guess, gaz, text)
    assert h.source is PointSource.GEOCODED and h.level == "city"
    assert h.region == "Maine" and near(h, 43.66, -70.26)
    # no reasoning, or a reasoning naming none of the namesakes' regions: the largest one
    for reasoning in ("", "Rain, coffee and bridges."):
        h = one(guess, gaz, reasoning)
        assert h.region is None and near(h, 45.52, -122.68)


def test_a_region_named_like_a_large_city_is_no_hint(gaz: Gazetteer) -> None:
    # Troy, Michigan is the largest; Troy, New York exists, but "New York" is the city too
    troy = Guess(city="Troy", country="United States")
    h = one(troy, gaz, "Brownstones like those in New York.")
    assert h.region is None and near(h, 42.61, -83.15)
    hit = gaz.resolve(troy)
    assert hit is not None and region_hint(hit, troy, "As in New York.", gaz) is None
    # Longview, Texas is the largest; "Washington" is the capital as much as the state
    longview = one(
        Guess(city="Longview", country="United States"), gaz, "Drizzle as in Washington."
    )
    assert longview.region is None and near(longview, 32.50, -94.74)
    # a region that is no large city's name is a hint
    assert near(one(troy, gaz, "Brick row houses of Rensselaer, New York State."), 42.73, -73.69)


def test_a_region_given_by_the_model_is_not_second_guessed(gaz: Gazetteer) -> None:
    guess = Guess(city="Portland", region="Oregon", country="United States")
    h = one(guess, gaz, "Lobster shacks like in Maine, Maine, Maine.")
    assert h.region == "Oregon" and near(h, 45.52, -122.68)


# -- through the pipeline ------------------------------------------------------------------
class _NoBackend:
    name = "none"
    model = "replayed"

    async def generate(self, *_: Any) -> ModelOutput:
        raise AssertionError("not called")

    def identity(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None


def test_interpret_reads_the_reasoning_of_a_broad_answer(gaz: Gazetteer) -> None:
    answer = {
        "reasoning": "Kiwi road signs and volcanic cones: New Zealand, most likely the "
        "suburbs of Rotorua, given the geothermal steam typical of Rotorua.",
        "guesses": [{"country": "New Zealand"}],
    }
    geo = Geolocator(_NoBackend(), geocoder=gaz, cache=False)
    output = ModelOutput(model="replayed", choices=[Choice(text=json.dumps(answer))])
    p = geo.interpret(output, image="a.jpg")
    assert p.ok and p.hypotheses[0].source is PointSource.MENTIONED
    assert p.hypotheses[0].city == "Rotorua"
    assert p.lat is not None and p.lon is not None
    assert haversine_km(p.lat, p.lon, -38.14, 176.25) <= 15


# -- every shared answer: a hint never leaves the country the guess names --------------------
def _shared_answers() -> list[tuple[Guess, str]]:
    texts: list[str] = []
    for path in sorted((STREETVIEW / "responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            texts.extend(row["model_response"] for row in csv.DictReader(f))
    for path in sorted((SHARED / "corpus" / "imageo-d3" / "responses").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line).get("raw_response") or "")
    out: list[tuple[Guess, str]] = []
    for text in texts:
        parsed = parse_answer(text)
        if parsed.status is Status.OK:
            for g in parsed.guesses:
                out.append((g.model_copy(update={"lat": None, "lon": None}), parsed.reasoning))
    return out


def test_hints_on_every_shared_answer_stay_inside_the_named_country(gaz: Gazetteer) -> None:
    if not SHARED.is_dir():
        pytest.skip("no shared corpus")
    table = country_table()
    hinted: list[Hypothesis] = []
    bad: list[str] = []
    for guess, reasoning in _shared_answers():
        iso = named_country(guess, table)
        if iso is None or not guess.has_name():
            continue
        plain = resolve_guesses([guess], gaz)
        for h in resolve_guesses([guess], gaz, reasoning=reasoning):
            if plain and (h.lat, h.lon) == (plain[0].lat, plain[0].lon):
                continue
            hinted.append(h)
            km = km_outside(h.lat, h.lon, iso)
            if km > OUTSIDE_KM:
                bad.append(f"{guess.label()} -> {h.label()} ({km:.0f} km outside {iso})")
    assert hinted, "no answer of the corpus was narrowed or placed by its reasoning"
    assert {h.source for h in hinted} == {PointSource.MENTIONED, PointSource.GEOCODED}
    assert not bad, bad[:10]
