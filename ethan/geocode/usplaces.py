"""US places below GeoNames' 500-people threshold, from the ZIP code table of ``zipcodes``.

GeoNames' 500+ file leaves out the many US hamlets and resort villages that models name
(an island village, a hamlet at a national park's gate). Every active US post office town
has a ZIP code, and the ``zipcodes`` package (MIT) ships all 42,000 with their town name,
state and a point. The towns that the GeoNames index lacks (same folded name in the same
state) join it with population 0, so any GeoNames town of the same name still wins, and
they never weigh in the points of broad areas.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from dataclasses import dataclass

_KINDS = frozenset({"STANDARD", "PO BOX"})  # towns; not single addresses or military posts
SPREAD_KM = 30.0  # ZIP points of one town farther apart than this are two towns


@dataclass(frozen=True)
class PostTown:
    name: str
    state: str  # two-letter code, the GeoNames admin1 code of US states
    lat: float
    lon: float


def source_version() -> str:
    """Version tag of the ZIP table, part of the index cache key ("" without it)."""
    if importlib.util.find_spec("zipcodes") is None:
        return ""
    return "zipcodes" + importlib.metadata.version("zipcodes")


def post_towns() -> list[PostTown]:
    """One point per (town, state): the mean of its active ZIP codes' points (empty
    without the ``zipcodes`` package)."""
    if importlib.util.find_spec("zipcodes") is None:
        return []
    import zipcodes

    points: dict[tuple[str, str], list[tuple[float, float]]] = {}
    # other names the post office accepts for a ZIP ("Lake Buena Vista" for an Orlando
    # ZIP): a resort or unincorporated town, kept when it is no post office town itself
    accepted: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for z in zipcodes.list_all():  # type: ignore[no-untyped-call]
        if not z.get("active") or z.get("zip_code_type") not in _KINDS:
            continue
        try:
            lat, lon = float(z["lat"]), float(z["long"])
        except (KeyError, TypeError, ValueError):
            continue
        if not (math.isfinite(lat) and math.isfinite(lon)) or (lat, lon) == (0.0, 0.0):
            continue
        name, state = str(z.get("city") or "").strip(), str(z.get("state") or "").strip()
        if name and len(state) == 2:
            points.setdefault((name, state), []).append((lat, lon))
            for other in z.get("acceptable_cities") or ():
                other = str(other).strip()
                if other and not _abbreviated(other):
                    accepted.setdefault((other, state), []).append((lat, lon))
    for key, pts in accepted.items():
        points.setdefault(key, pts)
    return [_town(name, state, pts) for (name, state), pts in points.items()]


_SHORT_WORDS = frozenset({"of", "de", "la", "el", "le", "du", "en"})
# words of accepted names that are no town: counties, campuses, bases
_NO_TOWN = frozenset({"county", "univ", "university", "college", "afb", "base", "nas", "campus"})


def _abbreviated(name: str) -> bool:
    """Whether a ZIP table name is shortened or no town ("Lk Buena Vis", "Rochester Hls",
    "Auburn Univ", "Adams County"): a word of one or two letters, one without a vowel, or
    one that names a county, a campus or a base."""
    for word in name.replace("-", " ").replace(".", " ").split():
        w = word.lower()
        if (len(w) <= 2 and w not in _SHORT_WORDS) or not any(c in "aeiouy" for c in w):
            return True
        if w in _NO_TOWN:
            return True
    return False


def _town(name: str, state: str, pts: list[tuple[float, float]]) -> PostTown:
    """The mean of a town's ZIP points, or its first one when they lie far apart (two
    towns of one name in one state)."""
    from ethan.geo import haversine_km

    lat = sum(p[0] for p in pts) / len(pts)
    lon = sum(p[1] for p in pts) / len(pts)
    if any(haversine_km(lat, lon, a, b) > SPREAD_KM for a, b in pts):
        lat, lon = pts[0]
    return PostTown(name, state, round(lat, 5), round(lon, 5))
