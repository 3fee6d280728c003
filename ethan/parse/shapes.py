"""Normalise the JSON shapes models answer in into :class:`Guess` and :class:`Clue` objects.

Handles flat answers (``{"lat", "long", "city", "country"}``), our own
:class:`~ethan.types.ModelAnswer`, lists of alternatives under many names, and nested
documents such as IMAGEO-Bench's ``reverse_geocoding.address`` / ``.coordinates``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ethan.parse.values import (
    Axis,
    clean_country_code,
    clean_name,
    is_absent,
    parse_coordinate,
    parse_pair,
    parse_probability,
    resolve_point,
)
from ethan.types import Clue, ClueCategory, Guess

_MAX_DEPTH = 8
_MAX_GUESSES = 20


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# (slot, rank, keys): a lower rank wins when several keys fill the same slot
_FIELD_TABLE = [
    ("lat", 0, "lat latitude lat_deg latitude_deg lat_dd"),
    ("lon", 0, "lon long lng longitude lon_deg longitude_deg lon_dd"),
    (
        "coords",
        0,
        "coordinates coords coordinate gps gps_coordinates lat_lon lat_long lat_lng latlon"
        " latlong latlng point position geo geolocation location_coordinates",
    ),
    ("continent", 0, "continent"),
    ("country", 0, "country country_name nation"),
    (
        "country_code",
        0,
        "country_code countrycode iso iso2 iso_code iso_3166 iso3166 iso_3166_1 iso_a2 cc"
        " country_iso iso_country_code alpha2",
    ),
    ("country_code", 2, "code"),
    (
        "region",
        0,
        "region state province prefecture state_province state_or_province province_state"
        " state_region region_state oblast canton",
    ),
    ("region", 1, "admin1 administrative_area admin_area territory"),
    ("region", 3, "county"),
    ("city", 0, "city city_town city_or_town town_city"),
    ("city", 1, "town village municipality town_or_village"),
    ("city", 2, "locality nearest_city closest_city city_name"),
    ("place", 0, "place landmark place_name landmark_name"),
    ("place", 1, "street street_name street_address specific_location location_name"),
    ("place", 2, "road neighborhood neighbourhood district suburb ward area"),
    ("place", 5, "address full_address"),
    ("place", 6, "location"),
    ("place", 7, "name"),
    (
        "place",
        8,
        "answer final_answer best_guess guess final_guess prediction predicted_location"
        " estimated_location final_location most_likely_location",
    ),
    ("probability", 0, "probability prob p likelihood chance"),
    ("confidence", 0, "confidence confidence_score certainty"),
]
_FIELDS: dict[str, tuple[str, int]] = {
    key: (slot, rank) for slot, rank, keys in _FIELD_TABLE for key in keys.split()
}
_CONTAINERS = frozenset(
    _words(
        """guesses alternatives alternative_guesses alternative_locations alternates hypotheses
        candidates candidate_locations top_k topk top_guesses top_3 top3 top_5 top5 predictions
        locations options other_guesses other_locations possible_locations possibilities answers
        ranked_guesses guess_list other_possibilities other_candidates backup_guesses"""
    )
)
_ALTERNATIVE = re.compile(r"^(?:alternat|second|other|backup|runner|fallback)")
_REASONING_KEYS = frozenset(
    _words(
        """reasoning explanation rationale analysis thought_process thinking chain_of_thought
        justification reason thoughts"""
    )
)
_CLUE_KEYS = frozenset(
    _words(
        """clues visual_clues observations evidence key_clues indicators visual_evidence
        key_observations key_features features clue"""
    )
)
_SKIP = {"image_information", "metadata", "usage", "image", "image_info", "scene"}

# key words (prefixes of the words in a key such as "text_and_signage") per category
_CATEGORY_WORDS: list[tuple[ClueCategory, list[str]]] = [
    (category, words.split())
    for category, words in (
        (ClueCategory.LANDMARK, "landmark monument"),
        (ClueCategory.ROAD, "road driving bollard marking lane traffic highway"),
        (ClueCategory.LANGUAGE, "text sign language script writing letter"),
        (ClueCategory.VEHICLES, "vehicle car license licence plate truck bus"),
        (ClueCategory.ARCHITECTURE, "architect building house roof construction"),
        (ClueCategory.VEGETATION, "vegetation flora plant tree foliage crop palm"),
        (
            ClueCategory.CLIMATE,
            "climate weather terrain landscape sun sky season geograph topograph soil mountain"
            " environment natural",
        ),
        (
            ClueCategory.INFRASTRUCTURE,
            "infrastructure pole utilit power wire furniture hydrant lamp",
        ),
        (ClueCategory.CULTURE, "cultur people cloth commerce shop business flag"),
    )
]
_OBSERVATION_KEYS = _words(
    """observation clue detail details description evidence text feature finding
    what visual value note"""
)
_IMPLICATION_KEYS = _words(
    """implication suggests suggestion inference meaning conclusion indicates
    indication significance interpretation points_to reasoning implies"""
)
_CATEGORY_KEYS = _words("category type kind aspect clue_type feature_type name")


def norm_key(key: object) -> str:
    """``"Country Code"`` -> ``"country_code"``; ``"**Lat**"`` -> ``"lat"``."""
    return re.sub(r"[^0-9a-z]+", "_", str(key).lower()).strip("_")


def field_for(key: str) -> tuple[str, int] | None:
    """The guess slot a (normalised) key fills, with its rank."""
    known = _FIELDS.get(key)
    if known:
        return known
    if re.match(r"^lat(?:itude)?_", key):
        return "lat", 1
    if re.match(r"^(?:lon|lng|long|longitude)_(?!desc)", key):
        return "lon", 1
    return None


def category_for(text: str) -> ClueCategory | None:
    """The clue category a key such as ``"text_and_signage"`` names, if any."""
    tokens = norm_key(text).split("_")
    for category, words in _CATEGORY_WORDS:
        if any(token.startswith(word) for token in tokens for word in words):
            return category
    return None


_TEXT_WORDS: list[tuple[ClueCategory, re.Pattern[str]]] = [
    (category, re.compile(r"\b(?:" + words + r")\b", re.IGNORECASE))
    for category, words in (
        (ClueCategory.LANDMARK, r"landmarks?|monuments?|church|temple|mosque|cathedral|tower"),
        (
            ClueCategory.ROAD,
            r"roads?|driving|drive on the|bollards?|lanes?|road markings?|traffic|highway"
            r"|pavement|asphalt|curbs?|kerbs?",
        ),
        (
            ClueCategory.LANGUAGE,
            r"text|signs?|signage|language|script|writing|written|letters|alphabet|cyrillic"
            r"|arabic|chinese|japanese|korean|thai|hangul|kanji|hebrew|greek|devanagari",
        ),
        (
            ClueCategory.VEHICLES,
            r"vehicles?|cars?|licen[cs]e plates?|plates?|trucks?|bus|buses|motorcycles?"
            r"|scooters?|taxis?",
        ),
        (
            ClueCategory.ARCHITECTURE,
            r"architecture|architectural|buildings?|houses?|roofs?|homes?|facades?|construction",
        ),
        (ClueCategory.VEGETATION, r"vegetation|flora|plants?|trees?|foliage|crops?|palms?|grass"),
        (
            ClueCategory.CLIMATE,
            r"climate|weather|terrain|landscape|sun|sky|season|mountains?|hills?|snow|arid"
            r"|tropical|temperate|soil",
        ),
        (
            ClueCategory.INFRASTRUCTURE,
            r"infrastructure|poles?|utility|power lines?|wires?|hydrants?|street ?lights?"
            r"|lamp ?posts?",
        ),
        (
            ClueCategory.CULTURE,
            r"culture|cultural|people|clothing|commerce|shops?|business(?:es)?|flags?|market",
        ),
    )
]


def _infer_category(text: str) -> ClueCategory:
    """The category whose keyword appears first in a free-text clue."""
    best: tuple[int, ClueCategory] | None = None
    for category, pattern in _TEXT_WORDS:
        match = pattern.search(text)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), category)
    return best[1] if best else ClueCategory.OTHER


@dataclass
class _Fields:
    """The best value seen for each slot of one guess."""

    best: dict[str, tuple[int, Any]] = field(default_factory=dict)
    saw_location_key: bool = False

    def offer(self, slot: str, rank: int, value: Any) -> None:
        if value is None:
            return
        current = self.best.get(slot)
        if current is None or rank < current[0]:
            self.best[slot] = (rank, value)

    def get(self, slot: str) -> Any:
        entry = self.best.get(slot)
        return entry[1] if entry else None


@dataclass
class Extracted:
    """What one JSON value says: guesses in order (not yet filtered), clues, reasoning."""

    guesses: list[Guess] = field(default_factory=list)
    clues: list[Clue] = field(default_factory=list)
    reasoning: str | None = None  # a reasoning text the JSON itself carries
    outline: str = ""  # a reasoning object (per-category notes) rendered as text
    location_keys: bool = False  # it had lat/lon/country/... keys, even if all were empty


def extract(value: dict[str, Any] | list[Any]) -> Extracted:
    """Guesses, clues and reasoning from a loaded JSON value."""
    out = Extracted()
    if isinstance(value, list):
        _add_items(value, out, 0)
        return out
    fields = _Fields()
    alternatives: list[Any] = []
    _walk(value, fields, alternatives, out, 0)
    out.location_keys = out.location_keys or fields.saw_location_key
    primary = _build_guess(fields)
    if primary is not None:
        out.guesses.insert(0, primary)
    _add_items(alternatives, out, 1)
    return out


def _add_items(items: list[Any], out: Extracted, depth: int) -> None:
    for item in items[:_MAX_GUESSES]:
        if isinstance(item, dict) and depth < _MAX_DEPTH:
            sub_fields = _Fields()
            nested: list[Any] = []
            _walk(item, sub_fields, nested, out, depth + 1)
            out.location_keys = out.location_keys or sub_fields.saw_location_key
            guess = _build_guess(sub_fields)
            if guess is not None:
                out.guesses.append(guess)
            _add_items(nested, out, depth + 1)
        elif isinstance(item, str):
            point = parse_pair(item)
            if point is not None:
                out.guesses.append(Guess(lat=point[0], lon=point[1]))
            elif (name := clean_name(item)) is not None:
                out.guesses.append(Guess(place=name))


def _walk(
    obj: dict[str, Any], fields: _Fields, alternatives: list[Any], out: Extracted, depth: int
) -> None:
    for raw_key, value in obj.items():
        key = norm_key(raw_key)
        if key in _CONTAINERS and isinstance(value, (list, dict)):
            if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
                alternatives.extend(value.values())
            else:
                alternatives.extend(value if isinstance(value, list) else [value])
            out.location_keys = True
        elif _ALTERNATIVE.match(key) and isinstance(value, dict):
            alternatives.append(value)
        elif key in _REASONING_KEYS or key in _CLUE_KEYS:
            if isinstance(value, str) and key in _REASONING_KEYS:
                if out.reasoning is None and not is_absent(value):
                    out.reasoning = value.strip()
            else:
                out.clues.extend(_clues_from(value, None, 0))
                if key in _REASONING_KEYS and not out.outline:
                    out.outline = _describe(value)
        elif key in _SKIP:
            continue
        elif isinstance(value, dict):
            if depth < _MAX_DEPTH:
                _walk(value, fields, alternatives, out, depth + 1)
        else:
            slot = field_for(key)
            if slot is not None:
                _offer(fields, slot[0], slot[1], value)
            elif depth <= 1 and isinstance(value, str):
                category = category_for(key)
                if category is not None and not is_absent(value):
                    out.clues.append(Clue(category=category, observation=value.strip()))


def _offer(fields: _Fields, slot: str, rank: int, value: Any) -> None:
    if slot not in ("probability", "confidence"):
        fields.saw_location_key = True
    if slot in ("lat", "lon"):
        number, axis = parse_coordinate(value)
        if number is not None:
            fields.offer(slot, rank, (number, axis))
    elif slot == "coords" or (slot == "place" and rank >= 5 and parse_pair(value) is not None):
        point = parse_pair(value)
        fields.offer("coords", rank, point)
    elif slot == "country_code":
        fields.offer(slot, rank, clean_country_code(value))
    elif slot == "probability":
        fields.offer(slot, rank, parse_probability(value))
    elif slot == "confidence":
        fields.offer(slot, rank, parse_probability(value, confidence=True))
    else:
        fields.offer(slot, rank, clean_name(value))


def _build_guess(fields: _Fields) -> Guess | None:
    lat_entry: tuple[float, Axis | None] | None = fields.get("lat")
    lon_entry: tuple[float, Axis | None] | None = fields.get("lon")
    point: tuple[float, float] | None = None
    if lat_entry is not None and lon_entry is not None:
        point = resolve_point(*lat_entry, *lon_entry, labelled=True)
    if point is None and fields.get("coords") is not None:
        point = fields.get("coords")
    probability = fields.get("probability")
    if probability is None:
        probability = fields.get("confidence")
    guess = Guess(
        continent=fields.get("continent"),
        country=fields.get("country"),
        country_code=fields.get("country_code"),
        region=fields.get("region"),
        city=fields.get("city"),
        place=fields.get("place"),
        lat=point[0] if point else None,
        lon=point[1] if point else None,
        probability=probability,
    )
    return guess if guess.has_point() or guess.has_name() else None


def _clues_from(value: Any, hint: ClueCategory | None, depth: int) -> list[Clue]:
    if depth > 4:
        return []
    if isinstance(value, str):
        text = value.strip()
        if is_absent(text) or len(text) < 3:
            return []
        return [Clue(category=hint or _infer_category(text), observation=text)]
    if isinstance(value, list):
        return [clue for item in value for clue in _clues_from(item, hint, depth + 1)]
    if not isinstance(value, dict):
        return []
    keyed = {norm_key(k): v for k, v in value.items()}
    observation = next((keyed[k] for k in _OBSERVATION_KEYS if isinstance(keyed.get(k), str)), None)
    if observation is not None:
        category_name = next(
            (keyed[k] for k in _CATEGORY_KEYS if isinstance(keyed.get(k), str)), None
        )
        category = (category_for(category_name) if category_name else None) or hint
        implication = next(
            (keyed[k] for k in _IMPLICATION_KEYS if isinstance(keyed.get(k), str)), None
        )
        if is_absent(observation):
            return []
        return [
            Clue(
                category=category or _infer_category(observation),
                observation=observation.strip(),
                implication=implication.strip() if implication else None,
            )
        ]
    clues: list[Clue] = []
    for key, item in value.items():
        clues.extend(_clues_from(item, category_for(str(key)) or hint, depth + 1))
    return clues


def _describe(value: Any, depth: int = 0) -> str:
    """A readable text for a reasoning object: ``"Landmark recognition: ..."`` per line."""
    if depth > 4:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "\n".join(filter(None, (_describe(item, depth + 1) for item in value)))
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            text = _describe(item, depth + 1)
            if text:
                label = str(key).replace("_", " ").strip().capitalize()
                lines.append(f"{label}: {text}")
        return "\n".join(lines)
    return ""
