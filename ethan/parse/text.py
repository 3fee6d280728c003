"""Plain-text answers: coordinates, labelled names, places named in prose, clues, refusals.

Used when a text has no usable JSON. The last occurrence wins, because models state their
final answer at the end and mention other numbers and places in passing before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ethan.parse.shapes import category_for, field_for, norm_key
from ethan.parse.values import (
    DASHES,
    Axis,
    clean_country_code,
    clean_name,
    is_absent,
    parse_coordinate,
    parse_pair,
    parse_probability,
    resolve_point,
)
from ethan.types import Clue, Guess

# one coordinate with a hemisphere letter: 48.8566° N, 40°26'46"N, 40° 26.767' N, S 33.9
_HEMI_COORD = (
    r"(?:(?P<{p}pre>[NSEW])\s*)?"
    r"(?P<{p}deg>\d{{1,3}}(?:\.\d+)?)\s*(?:°|deg(?:rees?)?\b)?\s*"
    r"(?:(?P<{p}min>\d{{1,2}}(?:\.\d+)?)\s*'\s*)?"
    r"(?:(?P<{p}sec>\d{{1,2}}(?:\.\d+)?)\s*(?:\"|'')\s*)?"
    r"(?P<{p}post>[NSEW](?![a-zA-Z]))?"
)
_HEMI_PAIR = re.compile(
    r"(?<![\w.])"
    + _HEMI_COORD.format(p="a")
    + r"\s*(?:,|;|/|\band\b|\s)\s*"
    + _HEMI_COORD.format(p="b")
)
# a signed decimal pair: -33.8688, 151.2093
_DECIMAL_PAIR = re.compile(
    r"(?<![\w.\-])(?P<a>[-+]?\d{1,2}\.\d+)\s*°?\s*,\s*(?P<b>[-+]?\d{1,3}\.\d+)\s*°?"
    r"(?!\d|\.\d|\s*(?:%|km|mi\b|m\b|mph|kph|ft|meters|metres|miles))"
)
_LABEL = re.compile(
    r"^[ \t>*\-+•\d.)#|]*[*_]*[ \t]*(?P<label>[A-Za-z][A-Za-z /()_\-]{0,40}?)[ \t]*[*_]*[ \t]*"
    r"[:：=][ \t]*[*_]*[ \t]*(?P<value>[^\n]*)$",
    re.MULTILINE,
)
_INLINE_LATLON = re.compile(
    r"\b(?P<label>lat(?:itude)?|lon(?:g(?:itude)?)?|lng)\b[ \t*_]*[:=][ \t*_]*"
    r"(?P<value>[-+]?\d{1,3}(?:\.\d+)?(?:[ \t]*°)?(?:[ \t]*\d{1,2}(?:\.\d+)?[ \t]*')?"
    r"(?:[ \t]*\d{1,2}(?:\.\d+)?[ \t]*(?:\"|''))?(?:[ \t]*[NSEW](?![a-zA-Z]))?)",
    re.IGNORECASE,
)
_NAME_SLOTS = ("continent", "country", "region", "city", "place")
_PAIR_WINDOW = 300


@dataclass(frozen=True)
class _Point:
    pos: int
    lat: float
    lon: float


def _hemi_value(match: re.Match[str], p: str) -> tuple[float | None, Axis | None]:
    letter = match[p + "pre"] or match[p + "post"]
    if not letter or (match[p + "pre"] and match[p + "post"]):
        return None, None
    text = match[p + "deg"] + "°"
    if match[p + "min"]:
        text += match[p + "min"] + "'"
    if match[p + "sec"]:
        text += match[p + "sec"] + '"'
    return parse_coordinate(text + letter)


def _points(text: str) -> list[_Point]:
    points: list[_Point] = []
    for match in _HEMI_PAIR.finditer(text):
        a, a_axis = _hemi_value(match, "a")
        b, b_axis = _hemi_value(match, "b")
        if a_axis is None or b_axis is None or a_axis == b_axis:
            continue
        point = resolve_point(a, a_axis, b, b_axis, labelled=False)
        if point:
            points.append(_Point(match.start(), *point))
    for match in _DECIMAL_PAIR.finditer(text):
        point = parse_pair([match["a"], match["b"]])
        if point:
            points.append(_Point(match.start(), *point))
    # "Latitude: 40.44 ... Longitude: -79.98" (labels may sit on separate lines)
    lats: list[tuple[int, tuple[float | None, Axis | None]]] = []
    lons: list[tuple[int, tuple[float | None, Axis | None]]] = []
    for match in _INLINE_LATLON.finditer(text):
        value = parse_coordinate(match["value"])
        if value[0] is None:
            continue
        (lats if match["label"].lower().startswith("lat") else lons).append((match.start(), value))
    for lat_pos, (lat, lat_axis) in lats:
        near = [(abs(pos - lat_pos), val) for pos, val in lons if abs(pos - lat_pos) < _PAIR_WINDOW]
        if near:
            lon, lon_axis = min(near, key=lambda x: x[0])[1]
            point = resolve_point(lat, lat_axis, lon, lon_axis, labelled=True)
            if point:
                points.append(_Point(lat_pos, *point))
    return points


_CODE_CHARS = re.compile(r"[{}\[\]\"]")


def _clean_label_value(value: str) -> str:
    value = re.sub(r"\*\*|__|`", "", value).strip()
    return re.sub(r"\s*[\[(]?(?:approx(?:imately|\.)?|estimated)[\])]?\s*$", "", value, flags=re.I)


@dataclass(frozen=True)
class TextAnswer:
    """What plain text says: a guess, if any, and whether a location label said "unknown"."""

    guess: Guess | None
    said_unknown: bool  # a location label such as "City:" said "Unknown", "N/A", "None"...


def read_text(text: str) -> TextAnswer:
    """The final answer stated in prose; its guess is ``None`` without a point or a place."""
    text = text.translate(DASHES)
    said_unknown = False
    names: dict[str, str] = {}
    probability: float | None = None
    points = _points(text)
    for match in _LABEL.finditer(text):
        slot_rank = field_for(norm_key(match["label"]))
        if slot_rank is None:
            continue
        slot, _ = slot_rank
        value = _clean_label_value(match["value"])
        if slot in (*_NAME_SLOTS, "coords", "lat", "lon") and value and is_absent(value):
            said_unknown = True
        if slot == "coords":
            point = parse_pair(value)
            if point:
                points.append(_Point(match.start(), *point))
        elif slot in _NAME_SLOTS:
            name = clean_name(value)
            # A label followed by JSON or code ("Best guess: {...") names nothing.
            if name and len(name.split()) <= 8 and not _CODE_CHARS.search(name):
                names[slot] = name  # the last one wins
        elif slot == "country_code":
            code = clean_country_code(value)
            if code:
                names[slot] = code
        elif slot in ("probability", "confidence"):
            probability = parse_probability(value, confidence=slot == "confidence")
    best = max(points, key=lambda p: p.pos) if points else None
    guess = Guess(
        **names,
        lat=best.lat if best else None,
        lon=best.lon if best else None,
        probability=probability,
    )
    return TextAnswer(guess if guess.has_point() or guess.has_name() else None, said_unknown)


# a place named in prose: "... the old town of Porto, Portugal", "... in Melbourne, Australia"
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][\w'’.\-]*"
_LINKS = r"de|da|do|dos|das|del|della|di|du|la|le|les|los|las|el|al|am|upon|on|sur|van|von|y"
# words join into one name, but not across the end of a sentence ("in English. However, ...")
_NAME = rf"{_CAPITALISED}(?:(?<![a-z]{{3}}\.)[ \t]+(?:(?:{_LINKS})[ \t]+)?{_CAPITALISED}){{0,3}}"
_PROSE_PLACE = re.compile(
    r"(?i:\b(?:in|of|near|like|at|is|be|from|around|within|as|guess:?|answer:?)\s+)"
    r"(?:the\s+)?(?i:(?:old\s+town|city|town|village|cent(?:re|er)|outskirts|suburbs?|area"
    r"|region|province|state|district|neighbou?rhood|capital|streets?|heart|downtown)"
    r"\s+(?:of\s+)?)?"
    rf"(?P<names>{_NAME}(?:,[ \t]*{_NAME}){{1,2}})"
)
_LIST_GOES_ON = re.compile(r"[ \t]*,?[ \t]*(?:or|and|and/or|&)\b", re.IGNORECASE)
_NOT_NAMES = frozenset(
    re.findall(
        r"\w+",
        """I However The This These That It Its Based Therefore Given Without Overall Also And
        But So Then Here There My While Although If In On At As For With From Additionally""",
    )
)


def place_in_prose(text: str) -> Guess | None:
    """The last "City, Country" (or "City, Region, Country") named in running text."""
    text = text.translate(DASHES).replace("**", "")
    found: str | None = None
    for match in _PROSE_PLACE.finditer(text):
        if _LIST_GOES_ON.match(text, match.end()):
            continue  # "Utah, Nevada, or Arizona" lists candidates, it does not name one place
        parts = [p.strip() for p in match["names"].split(",")]
        if any(p.split()[0] in _NOT_NAMES or clean_name(p) is None for p in parts):
            continue
        found = clean_name(", ".join(parts))
    return Guess(place=found) if found else None


_CLUE_LINE = re.compile(
    r"^[ \t]*(?:\d{1,2}[.)]|[-*•+])?[ \t]*\*\*(?P<label>[^*:\n]{2,50}?):?\*\*:?[ \t]*"
    r"(?P<text>\S[^\n]*)$",
    re.MULTILINE,
)


def clues_from_text(text: str) -> list[Clue]:
    """Clues from markdown lines such as ``1. **Architecture**: brick houses ...``."""
    clues: list[Clue] = []
    for match in _CLUE_LINE.finditer(text):
        category = category_for(match["label"])
        observation = match["text"].strip().lstrip(":-– ").strip()
        if category is not None and len(observation) >= 3:
            clues.append(Clue(category=category, observation=observation))
    return clues


_REFUSALS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\b(?:sorry|apologi[sz]e)\b[^.!?\n]{0,80}?\b(?:can(?:'|no)?t|can not|unable|not able"
        r"|won'?t|not (?:possible|allowed|permitted))\b",
        r"\bI(?:\s+am|'m)?\s+(?:can(?:'|no)?t|can not|unable to|not able to|won'?t|do not|don'?t"
        r"|must decline to|have to decline to)\s+(?:\w+ly\s+)?(?:help|assist|identify|determine"
        r"|provide|pinpoint|locate|fulfill|comply|give|tell|guess|geolocate|share|view|see|access"
        r"|reverse[- ]geocode"
        r"|make|infer|offer|analy[sz]e|process|narrow)\b",
        r"\b(?:not possible|impossible|unable|not able)\s+to\s+(?:\w+ly\s+)?(?:determine|provide"
        r"|identify|pinpoint|tell|give|guess|infer|narrow|locate|reverse[- ]geocode)\b",
        r"\b(?:can(?:'|no)?t|cannot|unable to)\s+(?:\w+ly\s+)?(?:provide|give|determine)\s+"
        r"(?:a |any |the |specific |precise |exact )*(?:coordinates|location)",
        r"\bI\s+(?:would\s+)?need\s+more\s+(?:information|details|context|clues)\b",
        r"\bif you (?:can|could) (?:provide|describe|share|give)\b",
        r"\bI\s+(?:must|have to|will have to)\s+decline\b",
    )
]


def refusal(text: str) -> str | None:
    """The sentence in which a model declines, or ``None`` when it does not."""
    text = text.translate(DASHES)
    for pattern in _REFUSALS:
        match = pattern.search(text)
        if match:
            start = max(
                text.rfind(".", 0, match.start()) + 1, text.rfind("\n", 0, match.start()) + 1
            )
            end_match = re.compile(r"[.!?\n]").search(text, match.end())
            end = end_match.end() if end_match else len(text)
            snippet = re.sub(r"\s+", " ", text[start:end]).strip()
            return snippet[:200]
    return None
