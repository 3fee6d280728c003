"""Last resort: place names mentioned in free text, for answers with no final guess.

A model cut off mid-reasoning, or rambling without a final answer, still often names places
("the signs look Portuguese... this could be Brazil, perhaps near São Paulo"). :func:`mentions`
finds capitalised names in the text that the gazetteer knows exactly (no typo tolerance:
free text is full of near-misses) — countries, first-level regions, landmarks and large
cities — and :func:`best_mention` keeps the most supported one: each mention counts once per
occurrence, plus the mentions of its country (a city in a country that is also named gets
that country's votes), and among equally supported names the most specific wins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ethan.geocode.base import LEVELS, Resolved
from ethan.geocode.gazetteer import Gazetteer
from ethan.geocode.text import fold
from ethan.types import Hypothesis, PointSource

MIN_CITY_POPULATION = 100_000  # a city named alone must be this large (or its country named)
_MAX_WORDS = 4
# capitalised runs of words, allowing lower-case joiners ("Rio de Janeiro", "Côte d'Ivoire")
_NAME = re.compile(
    r"(?<![\w'’-])(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*)"
    r"(?:\s+(?:(?:de|do|da|del|di|du|la|le|of|the|upon|on|am|im|an|y|e|i)\s+)?"
    r"[A-ZÀ-ÖØ-Þ][\w'’.-]*)*"
)
# capitalised words that are names of places somewhere but rarely mean them in reasoning
_COMMON_WORDS = """
    The This That These There However Based Given Overall Final Answer Step Location Latitude
    Longitude City Country Region State Street Road View Google North South East West Central
    Mediterranean European Asian African American Latin Western Eastern Northern Southern
    Image Photo Sign Signs Mobile Nice Split Reading Bath Jersey
    Orange Lincoln Chase Mercedes Sunny Clear Most Many Some Also Such Guess Confidence
    Reasoning Clues Palm Temple Valley Canal Park Beach Lake Mount River Desert Island
    First Second Third Then Next Finally Looking Considering Overall Additionally
"""
_COMMON = frozenset(fold(w) for w in _COMMON_WORDS.split())


@dataclass(frozen=True)
class Mention:
    """A place named in the text, resolved, with how often it (and its country) was named."""

    text: str
    resolved: Resolved
    count: int
    support: int


def _candidates(text: str) -> Counter[str]:
    """Every capitalised run of 1..4 words and its sub-runs, with occurrence counts."""
    found: Counter[str] = Counter()
    for match in _NAME.finditer(text):
        words = match.group(0).rstrip(".").split()
        for size in range(min(_MAX_WORDS, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                phrase = " ".join(words[start : start + size]).strip(".,'’")
                if phrase and phrase[0].isupper():
                    found[phrase] += 1
    return found


def mentions(text: str, gazetteer: Gazetteer) -> list[Mention]:
    """The places named in ``text``, most supported first (see the module docstring)."""
    resolved: dict[str, tuple[Resolved, int]] = {}
    countries = Counter[str]()
    for phrase, count in _candidates(text).items():
        key = fold(phrase)
        if not key or key in _COMMON or len(key) < 4:
            continue
        hit = gazetteer.search(phrase, fuzzy=False) if "," not in phrase else None
        if hit is None or not _exact(phrase, hit, gazetteer):
            continue
        resolved[phrase] = (hit, count)
        if hit.level == "country" and hit.country_code:
            countries[hit.country_code] += count
    out: list[Mention] = []
    for phrase, (hit, count) in resolved.items():
        in_named_country = hit.country_code is not None and countries[hit.country_code] > 0
        if hit.level == "city" and not in_named_country and not _large(hit, gazetteer):
            continue
        support = count
        if hit.level != "country" and in_named_country and hit.country_code:
            support += countries[hit.country_code]
        out.append(Mention(phrase, hit, count, support))
    out.sort(key=lambda m: (-m.support, LEVELS.index(m.resolved.level), -m.count))
    return _drop_contained(out)


def best_mention(text: str, gazetteer: Gazetteer) -> Mention | None:
    """The most supported place named in ``text``; ``None`` when none is."""
    found = mentions(text, gazetteer)
    return found[0] if found else None


def _exact(phrase: str, hit: Resolved, gazetteer: Gazetteer) -> bool:
    """Whether a country or continent is named as such, not found in a stripped phrase
    ("Northern Europe" is Europe, but "South Asian" is no place)."""
    if hit.level == "country":
        return gazetteer.countries.lookup(phrase, fuzzy=False) is not None
    if hit.level == "continent":
        return gazetteer.countries.continent(phrase) is not None
    return True


def _large(hit: Resolved, gazetteer: Gazetteer) -> bool:
    idx = gazetteer.index
    row = gazetteer.cities.match(hit.name.split(",")[0], hit.country_code, fuzzy=False)
    return row is not None and idx.city_pop[row] >= MIN_CITY_POPULATION


def _drop_contained(found: list[Mention]) -> list[Mention]:
    """ "Rio" inside "Rio de Janeiro": keep the longer name only."""
    keep: list[Mention] = []
    for m in found:
        if any(m.text != k.text and m.text in k.text for k in found if k.count >= m.count):
            continue
        keep.append(m)
    return keep


def mention_hypothesis(mention: Mention, *, sample: int = 0) -> Hypothesis:
    """A hypothesis at a mentioned place, marked ``source=mentioned``."""
    hit = mention.resolved
    field = {
        "landmark": "place",
        "place": "place",
        "city": "city",
        "region": "region",
        "country": "country",
        "continent": "continent",
    }[hit.level]
    fields: dict[str, object] = {field: hit.name.split(",")[0]}
    if hit.country_code:
        fields["country_code"] = hit.country_code
    fields.update(
        lat=hit.lat, lon=hit.lon, source=PointSource.MENTIONED, level=hit.level, sample=sample
    )
    return Hypothesis.model_validate(fields)


def last_resort(texts: Sequence[str | None], gazetteer: Gazetteer) -> list[Hypothesis]:
    """One hypothesis per text (sample) that names a place: its most supported mention."""
    out: list[Hypothesis] = []
    for sample, text in enumerate(texts):
        found = best_mention(text, gazetteer) if text else None
        if found is not None:
            out.append(mention_hypothesis(found, sample=sample))
    return out
