"""Hints from an answer's own reasoning: a broad guess narrowed, a bare town name placed.

A model that ends with only a country or a state ("USA", "Arizona, USA") has often named a
more specific place on the way there ("the saguaros and the adobe say Arizona... this looks
like the outskirts of Tucson"). :func:`narrow` reads the capitalised names of the reasoning
against the area the guess resolved to and keeps the most named place that lies inside it:

- each capitalised run of words is split into the longest names the gazetteer knows exactly
  (no typo tolerance), so "United States" is a country and never the town of United; a
  one-word town that opens a sentence counts only when large ("Brick buildings...");
- a name is read first as the area's own country, then as a first-level region of that
  country ("Georgia" with the United States is the state), then as another country, a
  region of another country, a landmark of the area's country, a town of at least
  :data:`MIN_TOWN_POPULATION` in the area (its region, or district, when the area is one),
  and only then as anything else the gazetteer knows; only regions (when the area is a
  country), landmarks and towns inside the area are candidates, and only when more
  specific than the area;
- a town or region beside a word of the same run that names neither an area nor another
  place of the area (but for the opening word of a sentence, "Perhaps") is part of another
  name ("Hollywood Studios", "Texas Roadhouse", "Benjamin Franklin") and does not count;
  nor do words written in capitals (text read off a sign), common words, and fragments of
  the guess's own names (the geocoder already read those, with their context);
- each candidate counts once per occurrence, a town or landmark also gets the votes of its
  region when that is named (a country-level guess); the most supported wins, then the most
  specific, then the first named.

Nothing outside the area is ever returned: when no such place is named the caller keeps the
area's own point.

:func:`region_hint` does the same for a bare town name that several towns of the named
country share ("Arlington, United States"): the namesake in the region the reasoning names
most ("...the federal buildings of northern Virginia") wins over the largest one, which
stays the answer when the reasoning names none of their regions; a region named like a
large city of the country ("New York", "Washington") is no hint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ethan.geo import haversine_km
from ethan.geocode.base import LEVELS, Resolved
from ethan.geocode.check import related_countries
from ethan.geocode.gazetteer import Gazetteer
from ethan.geocode.mentions import _COMMON, _NAME, MIN_CITY_POPULATION
from ethan.geocode.text import fold, name_variants
from ethan.types import Guess

MIN_TOWN_POPULATION = 5_000  # a town named in passing must be at least this large
_MAX_WORDS = 4
_BROAD = frozenset({"region", "country"})


@dataclass(frozen=True)
class Narrowed:
    """A place of the reasoning inside the guess's area, with how often it was named."""

    text: str
    resolved: Resolved
    count: int
    support: int


@dataclass(frozen=True)
class _Area:
    iso: str
    region: str | None  # "US.AZ"
    district: str | None  # "US.CA.059"
    level: str

    @classmethod
    def of(cls, hit: Resolved) -> _Area | None:
        if hit.level not in _BROAD or not hit.country_code:
            return None
        iso = hit.country_code.upper()
        if hit.level == "country":
            return cls(iso, None, None, "country")
        if hit.area is None or not hit.area.startswith(iso + "."):
            return None  # a region this module cannot check membership of
        parts = hit.area.split(".")
        region = ".".join(parts[:2])
        district = hit.area if len(parts) == 3 else None
        return cls(iso, region, district, "region")


@dataclass(frozen=True)
class _Reading:
    """What a phrase names: a candidate inside the area, or ``None`` for a known name that
    is not one (a country, a region abroad, a town elsewhere); ``area``: the phrase names a
    country, region or continent, which may stand beside a town ("Phoenix Arizona")."""

    candidate: Resolved | None
    area: bool = False


_ReadFn = Callable[[str], "_Reading | None"]


def narrow(hit: Resolved, guess: Guess, text: str, gazetteer: Gazetteer) -> Narrowed | None:
    """The most supported place named in ``text`` that lies inside the region or country
    ``hit`` (the broad point of ``guess``); ``None`` when there is none, or ``hit`` is no
    region or country the gazetteer can check membership of."""
    area = _Area.of(hit)
    if area is None or not text:
        return None
    own = [fold(v) for v in (guess.place, guess.city, guess.region, guess.country) if v]
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    points: dict[str, tuple[str, Resolved]] = {}
    for position, phrase, resolved in _candidates(text, area, gazetteer):
        key = fold(phrase)
        if any(key in name for name in own):
            continue
        name = resolved.name
        counts[name] = counts.get(name, 0) + 1
        first.setdefault(name, position)
        points.setdefault(name, (phrase, resolved))
    found: list[Narrowed] = []
    for name, count in counts.items():
        phrase, resolved = points[name]
        support = count
        if resolved.level != "region":
            support += sum(
                c for other, c in counts.items() if _in_region(resolved, points[other][1])
            )
        found.append(Narrowed(phrase, resolved, count, support))
    if not found:
        return None
    found.sort(key=lambda n: (-n.support, LEVELS.index(n.resolved.level), first[n.resolved.name]))
    return found[0]


def region_hint(hit: Resolved, guess: Guess, text: str, gazetteer: Gazetteer) -> Resolved | None:
    """The namesake of town ``hit`` (a guess naming a town and its country, no region or
    place) in the region of the country that ``text`` names most, when that is not the
    region of ``hit``; ``None`` otherwise. Ties go to the larger town."""
    if hit.level != "city" or not guess.city or guess.region or guess.place or not text:
        return None
    if not hit.country_code:
        return None
    area = _Area(hit.country_code.upper(), None, None, "country")
    towns = gazetteer.cities.candidates(guess.city, area.iso)
    if len(towns) < 2:
        return None
    named: dict[str, int] = {}
    for _, phrase, place in _candidates(text, area, gazetteer):
        if place.level != "region" or place.area is None:
            continue
        city = gazetteer.cities.match(phrase, area.iso, fuzzy=False, strip=False)
        if city is not None and gazetteer.index.city_pop[city] >= MIN_CITY_POPULATION:
            continue  # "New York", "Washington": as likely the city, no hint of a region
        named[place.area] = named.get(place.area, 0) + 1
    if not named:
        return None
    idx = gazetteer.index

    def votes(row: int) -> int:
        return named.get(f"{idx.city_country[row]}.{idx.city_admin1[row]}", 0)

    best = max(towns, key=votes)  # the first (largest) of equals
    here = [r for r in towns if (idx.city_lat[r], idx.city_lon[r]) == (hit.lat, hit.lon)]
    if best in here or votes(best) <= max(map(votes, here), default=0):
        return None
    return gazetteer._city_point(best, "city")


def _in_region(place: Resolved, region: Resolved) -> bool:
    return region.level == "region" and place.name.endswith(", " + region.name)


def _candidates(
    text: str, area: _Area, gazetteer: Gazetteer
) -> Iterator[tuple[int, str, Resolved]]:
    """(position, phrase, point) of every candidate occurrence in ``text``."""
    cache: dict[str, _Reading | None] = {}

    def read(phrase: str) -> _Reading | None:
        if phrase not in cache:
            cache[phrase] = _read(phrase, area, gazetteer)
        return cache[phrase]

    for match in _NAME.finditer(text):
        for start, words in _runs(match.group(0), match.start()):
            segments = list(_segments(words, read))
            for i, (phrase, reading) in enumerate(segments):
                if reading is None or reading.candidate is None:
                    continue
                place = reading.candidate
                opens = _sentence_start(text, start)
                if place.level != "landmark" and not _alone(segments, i, opens):
                    continue  # "Hollywood Studios", "Benjamin Franklin": another name
                if i == 0 and opens and place.level == "city" and not _large(place, gazetteer):
                    continue  # "Brick buildings...": capitalised as the first word
                yield start, phrase, place


def _alone(segments: list[tuple[str, _Reading | None]], i: int, opens: bool) -> bool:
    """Whether segment ``i`` of a run is a name of its own: only places of the area or
    areas (countries, regions) stand beside it in the run, except for the run's first word
    when that opens a sentence ("Perhaps Lexington")."""

    def fits(j: int) -> bool:
        reading = segments[j][1]
        return reading is not None and (reading.area or reading.candidate is not None)

    if i + 1 < len(segments) and not fits(i + 1):
        return False
    return i == 0 or fits(i - 1) or (i == 1 and opens)


def _runs(run: str, start: int) -> Iterator[tuple[int, list[str]]]:
    """A capitalised run split after words that end a sentence or clause ("...National
    Park. The"), abbreviations ("St.", "D.C.") excepted; with each piece's offset."""
    words: list[str] = []
    offset = start
    for m in re.finditer(r"\S+", run):
        word = m.group(0)
        if not words:
            offset = start + m.start()
        words.append(word)
        bare = word.rstrip(".!?:;,")
        if bare != word and (word[-1] != "." or len(bare.replace(".", "")) > 3):
            yield offset, words
            words = []
    if words:
        yield offset, words


def _sentence_start(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence, line, list item or heading."""
    before = text[:start].rstrip(" \t*_#>\"'(`•-")
    return not before or before[-1] in ".!?:\n"


def _large(place: Resolved, gazetteer: Gazetteer) -> bool:
    row = gazetteer.cities.match(place.name.split(",")[0], place.country_code, fuzzy=False)
    return row is not None and gazetteer.index.city_pop[row] >= MIN_CITY_POPULATION


def _segments(words: list[str], read: _ReadFn) -> Iterator[tuple[str, _Reading | None]]:
    """The run split left to right into its longest known names; unknown words alone."""
    i = 0
    while i < len(words):
        for size in range(min(_MAX_WORDS, len(words) - i), 0, -1):
            phrase = " ".join(words[i : i + size]).strip(".,;:!?'’")
            reading = read(phrase) if _worth_reading(phrase) else None
            if reading is not None or size == 1:
                yield phrase, reading
                i += size
                break


def _worth_reading(phrase: str) -> bool:
    key = fold(phrase)
    return len(key) >= 4 and key not in _COMMON and not phrase.isupper() and phrase[:1].isupper()


def _read(phrase: str, area: _Area, gazetteer: Gazetteer) -> _Reading | None:
    """What ``phrase`` names, in order of precedence (see the module docstring)."""
    countries = gazetteer.countries
    country = countries.lookup(phrase, fuzzy=False)
    if country == area.iso:
        return _AREA  # "Mexico" with Mexico is the country, not the State of México
    region = gazetteer._region(phrase, area.iso, codes=False)
    if region is not None:
        inside = area.level == "country"
        return _Reading(gazetteer._region_point(region) if inside else None, area=True)
    if country is not None or countries.continent(phrase) is not None:
        return _AREA
    if gazetteer._region(phrase, None, codes=False) is not None:
        return _AREA
    landmark = gazetteer._landmark(phrase, area.iso, fuzzy=False)
    if landmark is not None:
        return _Reading(landmark if _landmark_inside(landmark, area, gazetteer) else None)
    row = _town(phrase, area, gazetteer)
    if row is not None:
        return _Reading(gazetteer._city_point(row, "city"))
    if gazetteer.search(phrase, fuzzy=False) is not None:
        return _ELSEWHERE
    return None


_AREA = _Reading(None, area=True)  # a country, continent or region that is no candidate
_ELSEWHERE = _Reading(None)  # a known name of nothing inside the area


def _town(phrase: str, area: _Area, gazetteer: Gazetteer) -> int | None:
    """Row of the town ``phrase`` inside the area: a main name of at least
    :data:`MIN_TOWN_POPULATION` people (an alternate name only for a large city)."""
    idx = gazetteer.index
    admin1 = area.region.partition(".")[2] if area.region else None
    row = gazetteer.cities.match(
        phrase, area.iso, None, admin1, in_admin1=admin1 is not None, fuzzy=False
    )
    if row is None or idx.city_pop[row] < MIN_TOWN_POPULATION:
        return None
    if idx.city_country[row] not in related_countries(area.iso):
        return None
    if area.district is not None and area.district.rpartition(".")[2] != idx.city_admin2[row]:
        return None
    main = any(row in idx.main_keys.get(key) for key in name_variants(phrase))
    if not main and idx.city_pop[row] < MIN_CITY_POPULATION:
        return None  # "Area" is another name of a town of 30,000
    return row


def _landmark_inside(landmark: Resolved, area: _Area, gazetteer: Gazetteer) -> bool:
    """Whether a landmark's point lies in the area: by the country polygons, and for a
    region or district by the nearest town of the country."""
    from ethan.geocode.check import km_outside

    if km_outside(landmark.lat, landmark.lon, area.iso) > 0:
        return False
    if area.region is None:
        return True
    idx = gazetteer.index
    rows = idx.rows_by_country.get(area.iso)
    if not rows:
        return False
    lats = np.asarray([idx.city_lat[r] for r in rows])
    lons = np.asarray([idx.city_lon[r] for r in rows])
    row = rows[int(np.argmin(haversine_km(landmark.lat, landmark.lon, lats, lons)))]
    if f"{area.iso}.{idx.city_admin1[row]}" != area.region:
        return False
    return area.district is None or area.district.rpartition(".")[2] == idx.city_admin2[row]
