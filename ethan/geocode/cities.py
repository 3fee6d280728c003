"""City matching over the gazetteer index: exact names, territories, then near-misses.

Cities are matched exactly on the main name or a Latin-script alternate name (München,
Bombay, Kiev), kept inside the stated country (and inside a stated region when asked),
then in that country's territories (Hong Kong for China), ranked by population (a main-name
match wins unless an alternate-name match is 20 times larger; a city inside the stated
region wins over a larger one outside it), with a typo-tolerant fallback (bounded OSA edit
distance, inside the country when known).
"""

from __future__ import annotations

import math

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ethan.geo import haversine_km
from ethan.geocode.aliases import TERRITORIES
from ethan.geocode.countries import CountryTable, max_edits
from ethan.geocode.index import GazetteerIndex
from ethan.geocode.text import name_variants

PLACE_RADIUS_KM = 50.0  # a place must lie this close to the named city to count
_MAIN_BONUS = math.log10(20)  # main name beats alternate unless the latter is 20x larger
_REGION_BONUS = 3.0  # a city inside the stated region beats one outside it

Candidate = tuple[int, bool, int]  # city row, matched its main name, typos


class CityMatcher:
    """Finds the row of the best city for a name under the constraints of a guess."""

    def __init__(self, index: GazetteerIndex, countries: CountryTable) -> None:
        self.index = index
        self.countries = countries
        self._by_country: dict[str | None, dict[int, list[tuple[str, int, bool]]]] = {}

    def match(
        self,
        name: str,
        iso: str | None = None,
        continent: str | None = None,
        admin1: str | None = None,
        *,
        in_admin1: bool = False,
        admin2: str | None = None,
        near: int | None = None,
        fuzzy: bool = True,
        strip: bool = True,
        typos_only: bool = False,
    ) -> int | None:
        """Row of the best city called ``name``; ``None`` if none.

        Only cities inside ``iso`` (when given) count, and inside ``admin1`` when
        ``in_admin1``; otherwise ``admin1`` is a preference, as ``admin2`` (a second-level
        division inside ``admin1``) always is. Exact names first, then exact names in the
        territories of ``iso`` (Hong Kong for China), then near-misses (``typos_only``: only
        those; the same strict typo budget with or without a country).
        """
        idx = self.index
        keys = list(name_variants(name))[: None if strip else 1]
        inside = admin1 if in_admin1 else None
        for key in [] if typos_only else keys:
            rows = [(r, True, 0) for r in idx.main_keys.get(key)]
            rows += [(r, False, 0) for r in idx.alt_keys.get(key)]
            rows = self._within(rows, iso, continent, inside)
            if rows:
                return self._best(rows, admin1, near, admin2)
        if iso is not None and inside is None and not typos_only:
            for territory in TERRITORIES.get(iso, ()):
                row = self.match(name, territory, fuzzy=False, strip=strip)
                if row is not None:
                    return row
        if not fuzzy:
            return None
        for key in keys:
            rows = self._within(self._fuzzy(key, iso), iso, continent, inside)
            if rows:
                fewest = min(edits for _, _, edits in rows)
                return self._best([c for c in rows if c[2] == fewest], admin1, near, admin2)
        return None

    def candidates(
        self, name: str, iso: str | None, admin1: str | None = None, *, limit: int = 5
    ) -> list[int]:
        """Rows of the towns called exactly ``name`` inside ``iso`` (and ``admin1`` when
        given) and in the territories of ``iso``, best first."""
        idx = self.index
        found: list[int] = []
        for country in (iso, *TERRITORIES.get(iso or "", ())):
            for key in name_variants(name):
                rows = [(r, True, 0) for r in idx.main_keys.get(key)]
                rows += [(r, False, 0) for r in idx.alt_keys.get(key)]
                rows = self._within(rows, country, None, admin1 if country == iso else None)
                ranked = sorted(rows, key=lambda c: -self._score(c, admin1, None))
                found.extend(r for r, _, _ in ranked if r not in found)
                if rows:
                    break
        return found[:limit]

    def distance(self, a: int, b: int) -> float:
        idx = self.index
        return haversine_km(idx.city_lat[a], idx.city_lon[a], idx.city_lat[b], idx.city_lon[b])

    def _within(
        self, rows: list[Candidate], iso: str | None, continent: str | None, admin1: str | None
    ) -> list[Candidate]:
        idx = self.index
        if iso is not None:
            rows = [c for c in rows if idx.city_country[c[0]] == iso]
            if admin1 is not None:
                rows = [c for c in rows if idx.city_admin1[c[0]] == admin1]
            return rows
        if continent is not None:
            same = [
                c for c in rows if self.countries.continent_of(idx.city_country[c[0]]) == continent
            ]
            return same or rows
        return rows

    def _best(
        self,
        rows: list[Candidate],
        admin1: str | None,
        near: int | None,
        admin2: str | None = None,
    ) -> int:
        if near is not None:
            close = [c for c in rows if self.distance(c[0], near) <= PLACE_RADIUS_KM]
            rows = close or rows

        return max(rows, key=lambda c: self._score(c, admin1, admin2))[0]

    def _score(self, candidate: Candidate, admin1: str | None, admin2: str | None) -> float:
        idx = self.index
        row, main, _ = candidate
        value = math.log10(idx.city_pop[row] + 1) + (_MAIN_BONUS if main else 0.0)
        if admin1 is not None and idx.city_admin1[row] == admin1:
            value += _REGION_BONUS
            if admin2 is not None and idx.city_admin2[row] == admin2:
                value += _REGION_BONUS
        return value

    def _fuzzy(self, key: str, iso: str | None) -> list[Candidate]:
        """Cities whose name is within a few typos (OSA edits) of ``key``.

        With a country: main and alternate names of that country's cities. Without: main
        names with the same first letter only (a misspelt name rarely has a wrong initial).
        One typo at most, in names of 6+ letters: among 235,000 towns most near-misses of an
        unknown name are another town, not a typo. Only names of a length within the budget
        are compared, so a lookup costs a few milliseconds.
        """
        budget = min(1, max_edits(key, strict=True))
        if budget == 0:
            return []
        choices: list[tuple[str, int, bool]] = []
        buckets = self._buckets(iso)
        for n in range(len(key) - budget, len(key) + budget + 1):
            choices.extend(buckets.get(n if iso is not None else _world_bucket(n, key), ()))
        found = process.extract(
            key, [c[0] for c in choices], scorer=OSA.distance, score_cutoff=budget, limit=None
        )
        return [(choices[i][1], choices[i][2], int(edits)) for _, edits, i in found]

    def _buckets(self, iso: str | None) -> dict[int, list[tuple[str, int, bool]]]:
        """(name key, row, is main name) by key length: a country's names, or all main
        names by length and first letter."""
        cached = self._by_country.get(iso)
        if cached is not None:
            return cached
        idx = self.index
        if iso is None:
            out: dict[int, list[tuple[str, int, bool]]] = {}
            for name, rows in idx.main_keys.items():
                found = out.setdefault(_world_bucket(len(name), name), [])
                found.extend((name, r, True) for r in rows)
            self._by_country[None] = out
            return out
        # every country at once: one pass over all names (a fraction of a second, once)
        every: dict[str | None, dict[int, list[tuple[str, int, bool]]]] = {}
        for keys, main in ((idx.main_keys, True), (idx.alt_keys, False)):
            for name, rows in keys.items():
                for r in rows:
                    bucket = every.setdefault(idx.city_country[r], {})
                    bucket.setdefault(len(name), []).append((name, r, main))
        every.update({k: v for k, v in self._by_country.items() if k is None})
        self._by_country = every
        return every.setdefault(iso, {})


def _world_bucket(length: int, name: str) -> int:
    """Bucket of a main name over the whole world: its length and first letter."""
    return length * 128 + ord(name[0]) % 128
