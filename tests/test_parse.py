"""Tests for :mod:`ethan.parse`: one case per answer format, then the real answers in ../shared.

Run with ``-s`` to see the table of statuses per model.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ethan.parse import ParseResult, parse_answer
from ethan.types import ClueCategory, Guess, Status

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
STREETVIEW = SHARED / "corpus" / "streetview-dev"
IMAGEO = SHARED / "corpus" / "imageo-d3" / "responses"

# The OK share of each model's 200 answers, as measured with this parser, minus a margin.
# Measured: gpt-4o 0.980, gpt-4o-mini 1.000, claude-3.5-sonnet 1.000, gemini-1.5-flash 0.950,
# llama-3.2-11b-vision 0.940 (2 answers are transport errors), llava-v1.6-mistral-7b 0.960.
OK_FLOOR = {
    "gpt-4o": 0.96,
    "gpt-4o-mini": 0.98,
    "claude-3.5-sonnet": 0.98,
    "gemini-1.5-flash": 0.93,
    "llama-3.2-11b-vision": 0.92,
    "llava-v1.6-mistral-7b": 0.94,
}
MODELS = list(OK_FLOOR)


def first(result: ParseResult) -> Guess:
    assert result.status is Status.OK, result.message
    assert result.guesses, "an OK result has at least one guess"
    return result.guesses[0]


def point(result: ParseResult) -> tuple[float, float] | None:
    guess = first(result)
    if guess.lat is None or guess.lon is None:
        return None
    return guess.lat, guess.lon


def approx_point(result: ParseResult, lat: float, lon: float) -> None:
    got = point(result)
    assert got is not None, f"no point in {result}"
    assert got == pytest.approx((lat, lon), abs=1e-6)


# --- JSON formats -------------------------------------------------------------------------


def test_fenced_json_block() -> None:
    text = (
        "The houses are brick, cars drive on the left.\n\n"
        '```json\n{\n  "lat": -37.8136,\n  "long": 144.9631,\n  "city": "Melbourne",\n'
        '  "country": "Australia"\n}\n```'
    )
    result = parse_answer(text)
    approx_point(result, -37.8136, 144.9631)
    guess = first(result)
    assert (guess.city, guess.country) == ("Melbourne", "Australia")
    assert result.reasoning == "The houses are brick, cars drive on the left."
    assert result.message == ""


def test_bare_json() -> None:
    result = parse_answer('{"lat": 48.8566, "lon": 2.3522, "city": "Paris", "country": "France"}')
    approx_point(result, 48.8566, 2.3522)
    assert first(result).city == "Paris"


def test_last_object_in_prose_wins() -> None:
    text = (
        'I will answer as {"lat": <latitude>, "long": <longitude>}. My first thought was '
        '{"lat": 41.9, "long": 12.5, "city": "Rome"} but the signs are Spanish, so:\n'
        '{"lat": 40.4168, "long": -3.7038, "city": "Madrid", "country": "Spain"}\n'
        "I am fairly confident about this."
    )
    result = parse_answer(text)
    approx_point(result, 40.4168, -3.7038)
    assert first(result).city == "Madrid"
    assert len(result.guesses) == 1


def test_lng_and_longitude_keys() -> None:
    approx_point(parse_answer('{"latitude": 1.5, "longitude": 2.5}'), 1.5, 2.5)
    approx_point(parse_answer('{"lat": 1.5, "lng": 2.5}'), 1.5, 2.5)


def test_python_dict_quotes_and_literals() -> None:
    text = "{'lat': 35.68, 'lon': 139.69, 'city': 'Tokyo', 'sure': True, 'x': None, 'n': False}"
    result = parse_answer(text)
    approx_point(result, 35.68, 139.69)
    assert first(result).city == "Tokyo"


def test_trailing_commas_and_comments() -> None:
    text = '{\n  "lat": 48.85, // the centre\n  "lon": 2.35, /* roughly */\n  "city": "Paris",\n}'
    result = parse_answer(text)
    approx_point(result, 48.85, 2.35)
    assert first(result).city == "Paris"


def test_unquoted_string_values_llama_style() -> None:
    # verbatim from llama-3.2-11b-vision
    text = (
        "my best guess for the coordinates is:\n\n"
        '{"lat": -37.7833, "long": 144.9667, "city": Melbourne, "country": Australia}\n\n'
        "This location corresponds to a suburb in Melbourne."
    )
    result = parse_answer(text)
    approx_point(result, -37.7833, 144.9667)
    assert (first(result).city, first(result).country) == ("Melbourne", "Australia")


def test_unquoted_value_with_comma_and_unquoted_keys() -> None:
    result = parse_answer("{lat: 38.9, lon: -77.04, city: Washington, D.C., country: USA}")
    approx_point(result, 38.9, -77.04)
    assert first(result).city == "Washington, D.C."
    assert first(result).country == "USA"


def test_comma_inside_the_string_llava_style() -> None:
    # verbatim from llava-v1.6-mistral-7b: the comma went inside the quotes
    text = '{"lat": 19.432, "long": -99.139, "city": "Mexico City," "country": "Mexico"}'
    result = parse_answer(text)
    approx_point(result, 19.432, -99.139)
    assert (first(result).city, first(result).country) == ("Mexico City", "Mexico")


def test_json_in_markdown_bold_lines() -> None:
    text = '**{**\n**"lat": "21.28",**\n**"lon": "-157.83",**\n**"city": "Honolulu"**\n**}**'
    result = parse_answer(text)
    approx_point(result, 21.28, -157.83)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ('"-37.8"', '"144.9"', (-37.8, 144.9)),
        ('"37.8 S"', '"144.9 E"', (-37.8, 144.9)),
        ('"37.8° S"', '"144.9° E"', (-37.8, 144.9)),
        ('"37°48\'S"', '"144°57\'E"', (-37.8, 144.95)),
        (
            '"40°26\'46\\"N"',
            '"79°58\'56\\"W"',
            (40 + 26 / 60 + 46 / 3600, -(79 + 58 / 60 + 56 / 3600)),
        ),
        ('"approximately 40.0"', '"-75.5"', (40.0, -75.5)),
        ("-8.05", "-34.9", (-8.05, -34.9)),
    ],
)
def test_numbers_as_strings_and_degrees(lat: str, lon: str, expected: tuple[float, float]) -> None:
    result = parse_answer(f'{{"lat": {lat}, "lon": {lon}}}')
    approx_point(result, *expected)


@pytest.mark.parametrize(
    "missing", ['"No GPS data available"', '"unknown"', '"N/A"', "null", '""', '"Not visible"']
)
def test_absent_coordinates_leave_names(missing: str) -> None:
    text = f'{{"lat": {missing}, "lon": {missing}, "city": "Kyoto", "country": "Japan"}}'
    result = parse_answer(text)
    guess = first(result)
    assert not guess.has_point()
    assert (guess.city, guess.country) == ("Kyoto", "Japan")


def test_absent_names_are_dropped() -> None:
    text = (
        '{"lat": 52.37, "lon": 4.9, "city": "Unknown", "region": "Not visible", "country": "N/A"}'
    )
    guess = first(parse_answer(text))
    assert (guess.city, guess.region, guess.country) == (None, None, None)
    assert guess.has_point()


def test_all_fields_unknown_is_unparsed_not_refused() -> None:
    # the model answered in the format but named nothing; it did not decline
    text = '{"lat": "Unknown", "lon": "Unknown", "city": "Unknown", "country": "Not visible"}'
    result = parse_answer(text)
    assert result.status is Status.UNPARSED
    assert result.guesses == []
    assert result.message == "model gave no location: every location field is empty or unknown"
    result = parse_answer('The photo shows a street with parked cars. {"lat": "unknown"}')
    assert result.status is Status.UNPARSED


def test_unknown_fields_with_a_declining_sentence_are_refused() -> None:
    # verbatim shape from llava-v1.6-mistral-7b
    text = (
        "Without more specific details, I cannot provide a more precise guess.\n"
        '{"lat": 0.000, "long": 0.000, "city": "Unknown", "country": "Unknown"}'
    )
    result = parse_answer(text)
    assert result.status is Status.REFUSED
    assert result.guesses == []


def test_zero_zero_placeholder_is_not_a_point() -> None:
    # (0, 0) stands for "I don't know": never a point
    result = parse_answer('{"lat": 0.000, "long": 0.000, "city": "Unknown", "country": "Unknown"}')
    assert result.status is Status.UNPARSED
    assert result.guesses == []
    result = parse_answer('{"lat": 0, "long": 0, "country": "United States"}')
    guess = first(result)
    assert not guess.has_point() and guess.country == "United States"


IMAGEO_ANSWER = """```json
{
  "image_information": {"environment": "outdoor", "scene_type": "mixed", "setting": "suburban"},
  "reasoning": {
    "landmark_recognition": "Wilson Hall on the campus of Michigan State University.",
    "text_and_signage": "No legible text or signage is visible in the image.",
    "cultural_indicators": "A red fire hydrant and a double yellow line, as in North America.",
    "spatial_context": "A two-lane road between campus buildings."
  },
  "reverse_geocoding": {
    "confidence": "5",
    "address": {"street": "Wilson Road", "city": "East Lansing", "state": "MI", "country": "USA"},
    "coordinates": {"latitude": "42.7208", "longitude": "-84.4716"}
  }
}
```"""


def test_nested_imageo_shape() -> None:
    result = parse_answer(IMAGEO_ANSWER)
    approx_point(result, 42.7208, -84.4716)
    guess = first(result)
    assert (guess.place, guess.city, guess.region, guess.country) == (
        "Wilson Road",
        "East Lansing",
        "MI",
        "USA",
    )
    assert guess.probability is None  # "5" on a 1-5 scale is not a probability
    categories = [clue.category for clue in result.clues]
    assert categories[:2] == [ClueCategory.LANDMARK, ClueCategory.CULTURE]
    assert all(clue.observation for clue in result.clues)
    assert "Wilson Hall" in result.reasoning  # the reasoning object, rendered as text


def test_model_answer_contract_with_probabilities() -> None:
    answer = {
        "reasoning": "Cyrillic script and Soviet-era blocks.",
        "clues": [
            {"category": "language", "observation": "Cyrillic signs", "implication": "Russia"},
            {"category": "architecture", "observation": "panel blocks"},
            {"category": "no such category", "observation": "a dog"},
        ],
        "guesses": [
            {
                "continent": "Europe",
                "country": "Ukraine",
                "country_code": "ua",
                "city": "Kyiv",
                "lat": 50.45,
                "lon": 30.52,
                "probability": "30%",
            },
            {
                "country": "Russia",
                "country_code": "RU",
                "region": "Moscow Oblast",
                "city": "Moscow",
                "place": "Tverskaya Street",
                "lat": 55.75,
                "lon": 37.62,
                "probability": 60,
            },
            {"country": "Belarus", "probability": 0.1},
        ],
    }
    result = parse_answer("Here you are:\n" + json.dumps(answer, indent=2))
    assert result.reasoning == "Cyrillic script and Soviet-era blocks."
    # best first: sorted by probability because every guess has one
    assert [g.country for g in result.guesses] == ["Russia", "Ukraine", "Belarus"]
    assert [g.probability for g in result.guesses] == pytest.approx([0.6, 0.3, 0.1])
    moscow, kyiv, belarus = result.guesses
    assert (moscow.region, moscow.place, moscow.country_code) == (
        "Moscow Oblast",
        "Tverskaya Street",
        "RU",
    )
    assert kyiv.country_code == "UA" and kyiv.continent == "Europe"
    assert not belarus.has_point()
    assert [c.category for c in result.clues] == [
        ClueCategory.LANGUAGE,
        ClueCategory.ARCHITECTURE,
        ClueCategory.OTHER,
    ]
    assert result.clues[0].implication == "Russia"


@pytest.mark.parametrize(
    "key", ["alternatives", "hypotheses", "candidates", "top_k", "predictions"]
)
def test_lists_of_guesses_under_other_names(key: str) -> None:
    text = json.dumps(
        {
            "city": "Lyon",
            "country": "France",
            "lat": 45.76,
            "lng": 4.84,
            key: [{"city": "Grenoble", "lat": 45.19, "lon": 5.72}, "Geneva, Switzerland"],
        }
    )
    result = parse_answer(text)
    assert [g.city or g.place for g in result.guesses] == [
        "Lyon",
        "Grenoble",
        "Geneva, Switzerland",
    ]
    approx_point(result, 45.76, 4.84)


def test_best_guess_with_alternatives_and_confidence() -> None:
    text = json.dumps(
        {
            "best_guess": {
                "city": "Porto",
                "country": "Portugal",
                "coordinates": [41.15, -8.61],
                "confidence": 0.55,
            },
            "alternatives": [{"city": "Braga", "country": "Portugal", "confidence": "20%"}],
        }
    )
    result = parse_answer(text)
    approx_point(result, 41.15, -8.61)
    assert [g.probability for g in result.guesses] == pytest.approx([0.55, 0.2])


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [('"0.7"', 0.7), ('"70%"', 0.7), ("85", 0.85), ('"4"', None), ("3", None), ('"high"', None)],
)
def test_confidence_as_probability(confidence: str, expected: float | None) -> None:
    guess = first(parse_answer(f'{{"country": "Chile", "confidence": {confidence}}}'))
    assert guess.probability == (pytest.approx(expected) if expected is not None else None)


# --- plain text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Final coordinates: -33.8688, 151.2093", (-33.8688, 151.2093)),
        ("It is Paris (48.8566° N, 2.3522° E).", (48.8566, 2.3522)),
        ("Pittsburgh: 40°26'46\"N 79°58'56\"W", (40.446111, -79.982222)),
        ("Somewhere around 40° 26.767' N, 79° 58.933' W.", (40.446117, -79.982217)),
        ("Latitude: -22.9068\nLongitude: -43.1729", (-22.9068, -43.1729)),
        ("* Coordinates:\n\t+ Latitude: 33.7591\n\t+ Longitude: -84.3889", (33.7591, -84.3889)),
        ("**Latitude:** 59.33 **Longitude:** 18.07", (59.33, 18.07)),
    ],
)
def test_plain_text_coordinates(text: str, expected: tuple[float, float]) -> None:
    result = parse_answer(text)
    got = point(result)
    assert got == pytest.approx(expected, abs=1e-5)


def test_final_answer_wins_over_numbers_in_passing() -> None:
    text = (
        "In 2019 about 45% of roads here were paved; speeds of 50.5, 60.5 km/h are common.\n"
        "Tokyo would be 35.6762, 139.6503, but the kanji style points to Osaka.\n"
        "Final answer: 34.6937, 135.5023"
    )
    approx_point(parse_answer(text), 34.6937, 135.5023)


def test_years_and_percentages_are_not_coordinates() -> None:
    result = parse_answer("Built in 1985, 30% of the houses, speed limit 50, 60 km/h.")
    assert result.status is Status.UNPARSED
    assert result.guesses == []


def test_labelled_lines() -> None:
    text = (
        "1. **Architecture**: colonial facades.\n2. **Vegetation**: palms.\n\n"
        "**Country:** Brazil\n**City:** Recife\n**State:** Pernambuco\n"
    )
    result = parse_answer(text)
    guess = first(result)
    assert (guess.country, guess.region, guess.city) == ("Brazil", "Pernambuco", "Recife")
    assert not guess.has_point()
    assert [c.category for c in result.clues] == [
        ClueCategory.ARCHITECTURE,
        ClueCategory.VEGETATION,
    ]


@pytest.mark.parametrize("text", ['{"answer": "Kyoto, Japan"}', "**Best guess:** Kyoto, Japan"])
def test_a_free_text_answer_becomes_a_place_to_geocode(text: str) -> None:
    guess = first(parse_answer(text))
    assert guess.place == "Kyoto, Japan"
    assert not guess.has_point()


def test_labelled_lines_all_unknown_is_unparsed() -> None:
    text = "**Reverse Geocoding**\n* Address:\n\t+ City: Not visible\n\t+ Country: Not determined"
    result = parse_answer(text)
    assert result.status is Status.UNPARSED
    assert "every location field is empty or unknown" in result.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It looks like the old town of Porto, Portugal.", "Porto, Portugal"),
        ("I can't pin the street, but this is in Melbourne, Victoria, Australia.", None),
        ("My guess: Washington, D.C.", "Washington, D.C."),
    ],
)
def test_place_named_in_prose(text: str, expected: str | None) -> None:
    result = parse_answer(text)
    assert first(result).place == (expected or "Melbourne, Victoria, Australia")
    assert not first(result).has_point()
    assert "named in the text" in result.message


@pytest.mark.parametrize(
    "text",
    [
        "It could be in a state like Utah, Nevada, or Arizona.",  # a list, not one place
        "The signs are in English. However, Street View covers much of the world.",
    ],
)
def test_lists_and_sentence_starts_are_not_places(text: str) -> None:
    assert parse_answer(text).status is Status.UNPARSED


# --- range checks -------------------------------------------------------------------------


def test_out_of_range_labelled_point_is_dropped_names_kept() -> None:
    guess = first(parse_answer('{"lat": 151.2, "lon": -33.9, "city": "Sydney"}'))
    assert not guess.has_point()
    assert guess.city == "Sydney"
    guess = first(parse_answer('{"lat": 95.0, "lon": 10.0, "country": "Norway"}'))
    assert not guess.has_point()


def test_unlabelled_pair_swapped_when_unambiguous() -> None:
    approx_point(parse_answer('{"coordinates": [151.2093, -33.8688]}'), -33.8688, 151.2093)
    approx_point(parse_answer('{"coordinates": "-33.8688, 151.2093"}'), -33.8688, 151.2093)
    # both fit either way: keep the written order
    approx_point(parse_answer('{"coordinates": [10.5, 20.5]}'), 10.5, 20.5)


def test_hemisphere_letters_decide_the_axes() -> None:
    approx_point(parse_answer('{"lat": "2.35 E", "lon": "48.85 N"}'), 48.85, 2.35)
    approx_point(parse_answer("Position: 2.3522° E, 48.8566° N"), 48.8566, 2.3522)


# --- refusals, hedges, empty and cut-off answers ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't assist with that request.",
        "I can't help with identifying locations from photos of people.",
        "I'm sorry, but I can't determine the location of this image.",
        "I cannot provide the location of this image.",
        "Without landmarks, I am unable to determine the exact location.",
        "This is a parking garage. I can't confidently provide coordinates without more clues.",
        "I'm unable to view or analyze images directly. If you can describe the image, I can help.",
    ],
)
def test_refusals(text: str) -> None:
    result = parse_answer(text)
    assert result.status is Status.REFUSED
    assert result.guesses == []
    assert result.message.startswith("model refused: ")


def test_hedge_with_an_answer_is_ok() -> None:
    text = (
        "I can't be certain, and I'm unable to determine the exact street, but my best guess "
        'is Lisbon.\n{"lat": 38.7223, "long": -9.1393, "city": "Lisbon", "country": "Portugal"}'
    )
    result = parse_answer(text)
    approx_point(result, 38.7223, -9.1393)
    assert result.message == ""


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_empty_answer_is_unparsed(text: str | None) -> None:
    result = parse_answer(text)
    assert result.status is Status.UNPARSED
    assert result.message == "empty answer"


def test_rambling_text_is_unparsed() -> None:
    result = parse_answer("The image shows a city with some trees and a road. It is sunny.")
    assert result.status is Status.UNPARSED
    assert result.message == "no JSON object or coordinates found"


def test_cut_off_before_any_answer() -> None:
    text = "1. **Architecture**: The buildings have red tiled roofs, which suggests"
    result = parse_answer(text, finish_reason="length")
    assert result.status is Status.UNPARSED
    assert "cut off (finish_reason=length)" in result.message
    assert result.clues and result.clues[0].category is ClueCategory.ARCHITECTURE


def test_cut_off_inside_json_keeps_complete_fields() -> None:
    text = 'Best guess:\n```json\n{"lat": 52.52, "long": 13.405, "city": "Berl'
    result = parse_answer(text, finish_reason="length")
    approx_point(result, 52.52, 13.405)
    assert first(result).city is None  # half a name is no name
    assert "cut off" in result.message
    # a number cut off at the end of the text is not trusted
    result = parse_answer('{"lat": 52.52, "long": 13.4', finish_reason="length")
    assert result.status is Status.UNPARSED
    assert "cut off" in result.message


def test_content_filter_is_refused() -> None:
    result = parse_answer('{"lat": 1.0, "lon": 2.0}', finish_reason="content_filter")
    assert result.status is Status.REFUSED
    assert "content_filter" in result.message


def test_thinking_block_is_not_the_answer() -> None:
    text = '<think>Could be 10.5, 20.5 or Lima.</think>\n{"lat": 1.35, "lon": 103.82}'
    approx_point(parse_answer(text), 1.35, 103.82)


@pytest.mark.parametrize(
    "text",
    [
        "{" * 5000,
        "[" * 3000 + "]" * 3000,
        '{"lat": {"lat": {"lat": ' * 200,
        "}{][\"'\\" * 500,
        '{"a": "unterminated',
        "{'x': 'it's'}",
        '{"lat": NaN, "lon": Infinity}',
        '{"lat": 1e400, "lon": -1e400}',
        '{"lat": true, "lon": false, "city": 42}',
        '{"guesses": "not a list", "clues": 7, "reasoning": ["a", {"b": null}]}',
        "\x00\x01 lat: 91, lon: 181",
        "Latitude: 123.4\nLongitude: 45.6",
    ],
)
def test_never_raises_and_never_invents_points(text: str) -> None:
    result = parse_answer(text)
    assert result.status in (Status.OK, Status.REFUSED, Status.UNPARSED)
    for guess in result.guesses:
        assert guess.has_point() or guess.has_name()
        if guess.has_point():
            assert guess.lat is not None and guess.lon is not None
            assert abs(guess.lat) <= 90 and abs(guess.lon) <= 180


# --- real answers -----------------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"the shared corpus is missing: {path}")
    return path


@cache
def streetview_answers(model: str) -> list[tuple[str, str]]:
    csv.field_size_limit(1 << 30)
    with _require(STREETVIEW / "responses" / f"{model}.csv").open(newline="") as f:
        return [(row["filename"], row["model_response"]) for row in csv.DictReader(f)]


@cache
def streetview_parsed(model: str) -> list[tuple[str, str, ParseResult]]:
    return [(name, text, parse_answer(text)) for name, text in streetview_answers(model)]


@cache
def truth() -> dict[str, tuple[float, float]]:
    with _require(STREETVIEW / "truth.csv").open(newline="") as f:
        return {
            row["filename"]: (float(row["lat"]), float(row["lng"])) for row in csv.DictReader(f)
        }


def last_strict_json_point(text: str) -> tuple[float, float] | None:
    """An independent reading: the last object that strict ``json`` loads, with lat and long."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict) and "lat" in value:
            found = value
    if found is None:
        return None
    lat, lon = found.get("lat"), found.get("long", found.get("lon"))
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    if (lat, lon) == (0, 0) or abs(lat) > 90 or abs(lon) > 180:
        return None
    return float(lat), float(lon)


@pytest.mark.parametrize("model", MODELS)
def test_streetview_answers(model: str) -> None:
    parsed = streetview_parsed(model)
    assert len(parsed) == 200
    statuses = Counter(result.status for _, _, result in parsed)
    assert set(statuses) <= {Status.OK, Status.REFUSED, Status.UNPARSED}
    assert statuses[Status.OK] / len(parsed) >= OK_FLOOR[model], statuses

    checked = 0
    for name, text, result in parsed:
        for guess in result.guesses:
            assert guess.has_point() or guess.has_name(), (name, guess)
            assert (guess.lat, guess.lon) != (0, 0), (name, text)
        if result.status is not Status.OK:
            assert result.message, name
            assert not result.guesses
        expected = last_strict_json_point(text)
        if expected is not None:
            checked += 1
            assert point(result) == pytest.approx(expected), (name, text[-300:])
    # most answers end with strict JSON, so the comparison covers most of them
    assert checked >= 0.5 * len(parsed), checked


def test_streetview_points_are_the_stated_ones_and_plausible() -> None:
    distances = []
    for name, _, result in streetview_parsed("gpt-4o"):
        if result.status is Status.OK and (got := point(result)) is not None:
            distances.append(haversine_km(*truth()[name], *got))
    assert len(distances) >= 190
    assert statistics.median(distances) < 1000


def test_streetview_refusals_are_recognised() -> None:
    refused = [
        name
        for name, _, result in streetview_parsed("llama-3.2-11b-vision")
        if result.status is Status.REFUSED
    ]
    # llama-3.2 declined 9 of the 200 photos ("I'm sorry, but I can't fulfill this request.")
    assert len(refused) >= 9


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@cache
def imageo_rows() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(_require(IMAGEO).glob("dataset3_*.jsonl")):
        with path.open() as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def test_imageo_agrees_with_the_benchmark_parse() -> None:
    rows = imageo_rows()
    assert len(rows) == 2710
    compared = agreed = placeholders = 0
    for row in rows:
        result = parse_answer(row["raw_response"])
        assert result.status in (Status.OK, Status.REFUSED, Status.UNPARSED)
        info = row["location_info"]
        geo = info.get("reverse_geocoding") if isinstance(info, dict) else None
        coords = geo.get("coordinates") if isinstance(geo, dict) else None
        if not isinstance(coords, dict):
            continue
        lat, lon = _number(coords.get("latitude")), _number(coords.get("longitude"))
        if lat is None or lon is None:
            continue
        got = point(result) if result.status is Status.OK else None
        if (lat, lon) == (0, 0):  # a placeholder for "unknown": we never return it
            placeholders += 1
            assert got is None
            continue
        compared += 1
        agreed += got is not None and got == pytest.approx((lat, lon), abs=1e-9)
    assert compared > 2300
    assert placeholders > 0
    assert agreed / compared >= 0.99, (agreed, compared)


def test_status_table() -> None:
    """Print the share of each status per model (visible with ``pytest -s``)."""
    lines = [f"{'model':28s} {'n':>5s} {'ok':>6s} {'refused':>8s} {'unparsed':>9s} {'point':>6s}"]
    sources: list[tuple[str, list[ParseResult]]] = [
        (model, [result for _, _, result in streetview_parsed(model)]) for model in MODELS
    ]
    imageo = [parse_answer(row["raw_response"]) for row in imageo_rows()]
    sources.append(("imageo-d3 (10 models)", imageo))
    for label, results in sources:
        n = len(results)
        counts = Counter(result.status for result in results)
        points = sum(bool(r.guesses) and r.guesses[0].has_point() for r in results)
        shares = [counts[s] / n for s in (Status.OK, Status.REFUSED, Status.UNPARSED)]
        assert sum(shares) == pytest.approx(1.0)
        lines.append(
            f"{label:28s} {n:5d} {shares[0]:6.3f} {shares[1]:8.3f} {shares[2]:9.3f} "
            f"{points / n:6.3f}"
        )
    print("\n" + "\n".join(lines))
