"""Single values as models write them: coordinates, place names, probabilities.

Everything here is total: odd input gives ``None``, never an exception and never a made-up
number.
"""

from __future__ import annotations

import math
import re
from typing import Literal

Axis = Literal["lat", "lon"]

# typographic dashes, quotes and degree signs -> ASCII '-', "'", '"' and '°'
DASHES = str.maketrans(
    {
        "−": "-",
        "–": "-",
        "—": "-",
        "’": "'",
        "‘": "'",
        "′": "'",
        "´": "'",
        "″": '"',
        "“": '"',
        "”": '"',
        "º": "°",
        "˚": "°",
    }
)

_ABSENT = re.compile(
    r"""^(?:
        unknown\b.* | unk | n/?a | none\b.* | null | nil | nan | undefined | unsure |
        not?\s+(?:visible|specified|provided|applicable|available|determined|determinable|known
              |identifiable|identified|clear|certain|sure|given|shown|legible|readable
              |discernible|mentioned|stated|enough|sufficient|possible|found)\b.* |
        unspecified\b.* | undetermined | unavailable | uncertain | unclear | unidentified |
        unidentifiable | indeterminate | unnamed\b.* | unlabell?ed\b.* | generic\b.* |
        non[- ]?specific\b.* | unlikely\b.* | approx\w*\s+(?:location|area|position)\b.* |
        (?:rural|suburban|urban|residential|remote|some)\s+(?:area|location|region|place|town)s? |
        no(?:\s+[a-z].*)? | anytown | anywhere | anyplace | somewhere\b.* |
        unable\b.* | cannot\b.* | can'?t\b.* | could\s+not\b.* | insufficient\b.* |
        various\b.* | multiple\b.* | several\b.* | tbd | tba | xx+ | \?+ | -+ | \.{2,} | … |
        <[^>]*> | \[[^\]]*\] | \{[^}]*\} | your\s.* | (?:city|country|region|state)(?:\s+name)?
    )\.?$""",
    re.IGNORECASE | re.VERBOSE,
)
_HEDGE_PREFIX = re.compile(
    r"^(?:most\s+)?(?:likely|possibly|probably|perhaps|maybe|approximately|approx\.?|"
    r"presumably|somewhere\s+(?:in|near)|around|roughly|potentially|near|close\s+to"
    r"|(?:in\s+)?the\s+vicinity\s+of|outskirts\s+of)\s+",
    re.IGNORECASE,
)
_HEDGE_PAREN = re.compile(
    r"\s*\((?:[^()]*\b(?:approx\w*|likely|possibl\w*|probabl\w*|estimat\w*|guess\w*|uncertain"
    r"|inferred|assum\w*|maybe|perhaps|unsure|unconfirmed|speculative)\b[^()]*|[^()]*\?)\)",
    re.IGNORECASE,
)
_MAX_NAME = 100
_MAX_WORDS = 12


def is_absent(text: str) -> bool:
    """True for the words models use to say a value is missing ("Unknown", "N/A", "")."""
    stripped = text.strip().strip("*_`\"' .").strip()
    return not stripped or bool(_ABSENT.match(stripped))


def clean_name(value: object) -> str | None:
    """A place name, tidied, or ``None`` when missing, a placeholder or not a name at all."""
    if isinstance(value, list):
        for item in value:
            name = clean_name(item)
            if name:
                return name
        return None
    if not isinstance(value, str):
        return None
    text = re.sub(r"\s+", " ", value.translate(DASHES)).strip()
    text = text.strip("*_`\"' ").strip()
    text = _HEDGE_PAREN.sub("", text).strip()
    text = _HEDGE_PREFIX.sub("", text).strip()
    text = re.sub(r"(?<![A-Z])\.+$", "", text.rstrip(",;:! ")).strip("*_`\"' ").strip()
    if is_absent(text) or len(text) > _MAX_NAME or len(text.split()) > _MAX_WORDS:
        return None
    if not re.search(r"[^\W\d_]", text):
        return None
    if re.match(r"(?:a|an|any|some)\s", text):  # "a Southern US state" (lower case only)
        return None
    return text


def clean_country_code(value: object) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or ``None``."""
    if not isinstance(value, str):
        return None
    code = value.strip().strip("*_`\"' .").upper()
    return code if re.fullmatch(r"[A-Z]{2}", code) else None


_APPROX = re.compile(
    r"^(?:approx(?:imately|\.)?|about|around|roughly|circa|ca\.|near(?:ly)?|~|≈|lat(?:itude)?"
    r"|lon(?:g(?:itude)?)?|lng)\s*[:=]?\s*",
    re.IGNORECASE,
)
_COORD = re.compile(
    r"""^(?P<h1>[NSEW])?\s*
        (?P<sign>[-+])?\s*
        (?P<d>\d{1,3}(?:\.\d+)?)\s*(?:°|(?:deg(?:rees?)?|d)(?![a-z]))?\s*
        (?:(?P<m>\d{1,2}(?:\.\d+)?)\s*(?:'|m(?:in)?(?![a-z]))\s*)?
        (?:(?P<s>\d{1,2}(?:\.\d+)?)\s*(?:"|''|s(?:ec)?(?![a-z]))\s*)?
        (?P<h2>north|south|east|west|[NSEW])?\.?$""",
    re.IGNORECASE | re.VERBOSE,
)


def _hemisphere(letter: str | None) -> tuple[int, Axis | None]:
    if not letter:
        return 1, None
    first = letter[0].upper()
    return (-1 if first in "SW" else 1), ("lat" if first in "NS" else "lon")


def parse_coordinate(value: object) -> tuple[float | None, Axis | None]:
    """One coordinate in decimal degrees plus the axis its hemisphere letter names, if any.

    Accepts numbers, numeric strings, ``"37.8 S"``, ``"37°48'S"``, ``"40° 26.767' N"``.
    Words such as "No GPS data available" give ``(None, None)``.
    """
    if isinstance(value, bool):
        return None, None
    if isinstance(value, (int, float)):
        number = float(value)
        return (number, None) if math.isfinite(number) else (None, None)
    if not isinstance(value, str):
        return None, None
    text = value.translate(DASHES).strip().strip("*_`()[],; ").strip()
    text = _HEDGE_PAREN.sub("", text).strip()
    text = _APPROX.sub("", text).strip()
    if re.fullmatch(r"-?\d{1,3},\d+", text):  # decimal comma
        text = text.replace(",", ".")
    match = _COORD.match(text)
    if not match:
        return None, None
    h1, h2 = match["h1"], match["h2"]
    if h1 and h2:
        return None, None
    degrees = float(match["d"])
    minutes = float(match["m"]) if match["m"] else 0.0
    seconds = float(match["s"]) if match["s"] else 0.0
    if minutes >= 60 or seconds >= 60 or ((match["m"] or match["s"]) and "." in match["d"]):
        return None, None
    number = degrees + minutes / 60 + seconds / 3600
    sign, axis = _hemisphere(h1 or h2)
    if match["sign"] == "-" or sign < 0:
        number = -number
    return number, axis


def valid_point(lat: float, lon: float) -> bool:
    """In range and not the (0, 0) placeholder some models write for "unknown"."""
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        return False
    return not (lat == 0 and lon == 0)


def resolve_point(
    lat: float | None,
    lat_axis: Axis | None,
    lon: float | None,
    lon_axis: Axis | None,
    *,
    labelled: bool,
) -> tuple[float, float] | None:
    """Turn two parsed values into a checked (lat, lon), swapping only when unambiguous.

    ``labelled`` says the values came with explicit lat/lon labels: then a value out of
    range drops the point instead of being swapped, unless hemisphere letters say the
    labels are the wrong way round. Unlabelled pairs (``"coordinates": [a, b]``) are
    swapped when the first cannot be a latitude and the second can.
    """
    if lat is None or lon is None:
        return None
    if (lat_axis == "lon" and lon_axis != "lon") or (lon_axis == "lat" and lat_axis != "lat"):
        lat, lon = lon, lat
    elif lat_axis == lon_axis and lat_axis is not None:
        return None  # both say north/south (or east/west): no way to tell
    if valid_point(lat, lon):
        return lat, lon
    hinted = lat_axis is not None or lon_axis is not None
    if not labelled and not hinted and abs(lat) > 90 and abs(lon) <= 90 and valid_point(lon, lat):
        return lon, lat
    return None


def parse_pair(value: object) -> tuple[float, float] | None:
    """A point from an unlabelled pair: ``[lat, lon]``, ``"lat, lon"``, ``"48.8° N, 2.3° E"``."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        a, a_axis = parse_coordinate(value[0])
        b, b_axis = parse_coordinate(value[1])
        return resolve_point(a, a_axis, b, b_axis, labelled=False)
    if isinstance(value, str):
        text = value.translate(DASHES).strip().strip("()[] ")
        parts = [p for p in re.split(r"\s*[,;/]\s*|\s+(?=[-+]?\d)", text) if p.strip()]
        if len(parts) == 2:
            a, a_axis = parse_coordinate(parts[0])
            b, b_axis = parse_coordinate(parts[1])
            return resolve_point(a, a_axis, b, b_axis, labelled=False)
    return None


def _number(value: object) -> tuple[float | None, bool, bool]:
    """(number, had a percent sign, had a decimal point)."""
    if isinstance(value, bool):
        return None, False, False
    if isinstance(value, (int, float)):
        number = float(value)
        return (number if math.isfinite(number) else None), False, isinstance(value, float)
    if not isinstance(value, str):
        return None, False, False
    match = re.fullmatch(r"\s*~?\s*(\d+(?:\.\d+)?)\s*(%)?\s*", value)
    if not match:
        return None, False, False
    return float(match[1]), bool(match[2]), "." in match[1]


def parse_probability(value: object, *, confidence: bool = False) -> float | None:
    """A probability in 0..1 from ``0.7``, ``"70%"`` or ``70``.

    A ``confidence`` field is read as a probability only when it is plainly one: a
    fraction below 1 or a percentage. Scores such as ``"4"`` on a 1-5 scale give ``None``.
    """
    number, percent, decimal = _number(value)
    if number is None:
        return None
    if percent:
        return number / 100 if number <= 100 else None
    if confidence:
        if number < 1 or (number == 1 and decimal):
            return number
        return number / 100 if 10 < number <= 100 else None
    if number <= 1:
        return number
    return number / 100 if number <= 100 else None
