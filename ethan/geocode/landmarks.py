"""A table of famous landmarks and natural features, with coordinates.

No package ships them: PyPI, npm and Debian were searched for named natural features, parks
or landmarks with coordinates (GeoNames' non-town classes, Natural Earth's labelled layers,
World Heritage lists, Wikidata extracts, Marble's placemarks); what exists is cities only,
outlines without names, one country (``iceaddr``) or a few dozen points. So
``data/landmarks.csv`` (shipped inside the package) lists about 1,400 that models name:
monuments, buildings, archaeological sites, parks, mountains, volcanoes, ranges, glaciers,
canyons, caves, lakes, rivers, deserts, islands, coasts, bays, fjords, peninsulas. Columns:
``name, aliases ("|"-separated), kind, country (ISO2), lat, lon``. A feature that spans
countries (Lake Titicaca, the Alps) lists them all, "|"-separated, the first being where its
point lies; a lookup inside any of them finds it.

Two kinds of feature are weaker than the names beside them: a *vast* one (a range, desert,
river, sea) is no more precise than a named region or town, and a *settled* one (an island,
coast, peninsula, valley) holds the town named with it, which is the more precise answer.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ethan.geo import haversine_km
from ethan.geocode.check import km_outside, related_countries
from ethan.geocode.cores import cores
from ethan.geocode.countries import max_edits
from ethan.geocode.text import fold, name_variants

WATER_KINDS = frozenset(
    {"bay", "fjord", "lagoon", "sound", "strait", "reef", "sea", "coast", "beach", "island"}
)  # features whose point may lie off the country's land outline
VAST_KINDS = frozenset({"range", "desert", "river", "sea", "plateau", "delta"})
SETTLED_KINDS = frozenset({"island", "coast", "peninsula", "valley", "region"})
OUTSIDE_KM = 25.0  # a feature of several countries must lie this near the one named
KINDS = WATER_KINDS | VAST_KINDS | SETTLED_KINDS | {
    "landmark", "park", "mountain", "volcano", "range", "glacier", "canyon", "valley",
    "desert", "delta", "cave", "waterfall", "lake", "river", "plateau", "peninsula", "region",
}  # fmt: skip


@dataclass(frozen=True)
class Landmark:
    name: str
    kind: str  # one of KINDS
    countries: tuple[str, ...]  # ISO2 codes, the first is where its point lies
    lat: float
    lon: float

    @property
    def country(self) -> str:
        return self.countries[0]


class LandmarkTable:
    """Exact and typo-tolerant lookup of landmarks by name or alias."""

    def __init__(self, landmarks: list[Landmark], names: list[tuple[str, int]]) -> None:
        self.landmarks = landmarks
        self._keys: dict[str, list[int]] = {}
        for name, i in names:
            for key in _keys(name):
                rows = self._keys.setdefault(key, [])
                if i not in rows:
                    rows.append(i)
        self._fuzzy_keys = [k for k in self._keys if len(k) >= 6]

    def __len__(self) -> int:
        return len(self.landmarks)

    @functools.cached_property
    def _words(self) -> dict[str, set[str]]:
        """A word -> the keys holding it (built on first use)."""
        words: dict[str, set[str]] = {}
        for key in self._keys:
            for word in key.replace("-", " ").split():
                words.setdefault(word, set()).add(key)
        return words

    @functools.cached_property
    def _proper(self) -> dict[str, list[int]]:
        """A name less its kind words -> rows ("bled": Lake Bled; built on first use)."""
        proper: dict[str, list[int]] = {}
        for key, rows in self._keys.items():
            for core in cores(key):
                found = proper.setdefault(core, [])
                found.extend(i for i in rows if i not in found)
        return proper

    def keys(self) -> dict[str, list[int]]:
        """Every lookup key and the rows it finds."""
        return {k: list(v) for k, v in self._keys.items()}

    def find(
        self, text: str, iso: str | None = None, *, fuzzy: bool = True, literal: bool = False
    ) -> Landmark | None:
        """The landmark called ``text`` (inside ``iso`` when given), or ``None``; with
        ``literal``, by the name as written only (no filler stripped: "West Hollywood" is
        no "Hollywood")."""
        variants = list(name_variants(text))[: 1 if literal else None]
        for key in variants:
            hit = self._pick(self._keys.get(key, ()), iso)
            if hit is not None:
                return hit
        if not fuzzy:
            return None
        for key in variants:
            budget = max_edits(key, strict=True)
            if budget == 0:
                continue
            found = process.extractOne(
                key, self._fuzzy_keys, scorer=OSA.distance, score_cutoff=budget
            )
            if found is not None:
                hit = self._pick(self._keys[found[0]], iso)
                if hit is not None:
                    return hit
        return None

    def proper(self, key: str, iso: str | None, *, within_km: float) -> Landmark | None:
        """The feature of ``iso`` whose name less its kind words is ``key`` ("bled": Lake
        Bled; "zion": Zion National Park); when several are, one only if they all lie within
        ``within_km`` of each other, else ``None``."""
        found = [self.landmarks[i] for i in self._proper.get(key, ())]
        if iso is not None:
            related = set(related_countries(iso))
            found = [f for f in found if related.intersection(f.countries)]
        if not found:
            return None
        first = found[0]
        if any(haversine_km(first.lat, first.lon, f.lat, f.lon) > within_km for f in found):
            return None
        return first

    def fitting(
        self, found: Landmark, iso: str | None, *, town: bool, region: bool
    ) -> Landmark | None:
        """``found`` (or its part in ``iso``) when it can be the reading of a name given
        with a ``town`` and/or ``region`` in country ``iso``: a vast feature with neither, a
        settled one with no town, a feature of several countries by its part in ``iso``
        (the Alps with France: the French Alps) or when its point lies within
        :data:`OUTSIDE_KM` of ``iso``."""
        if found.kind in VAST_KINDS and (town or region):
            return None
        if found.kind in SETTLED_KINDS and town:
            return None
        if iso is None or iso == found.country:
            return found
        part = self.part_in(found, iso)
        if part is not None:
            return self.fitting(part, iso, town=town, region=region)
        return found if km_outside(found.lat, found.lon, iso) <= OUTSIDE_KM else None

    def part_in(self, feature: Landmark, iso: str) -> Landmark | None:
        """The part of a feature of several countries that lies in ``iso``: the one row of
        that country whose name holds one of the feature's ("French Alps" of the Alps)."""
        row = self.landmarks.index(feature)
        names = [k.replace("-", " ") for k, rows in self._keys.items() if row in rows]
        parts = {
            i
            for name in names
            for key in self._words.get(name.split()[0], ())
            if key != name and f" {name} " in f" {key.replace('-', ' ')} "
            for i in self._keys[key]
            if i != row and self.landmarks[i].country == iso
        }
        return self.landmarks[parts.pop()] if len(parts) == 1 else None

    def _pick(self, rows: list[int] | tuple[()], iso: str | None) -> Landmark | None:
        """The first row inside ``iso``, else inside one of its territories or the country
        it belongs to (El Morro, United States is in Puerto Rico)."""
        if iso is None:
            return self.landmarks[rows[0]] if rows else None
        for i in rows:
            if iso in self.landmarks[i].countries:
                return self.landmarks[i]
        related = set(related_countries(iso))
        for i in rows:
            if related.intersection(self.landmarks[i].countries):
                return self.landmarks[i]
        return None


def _keys(name: str) -> list[str]:
    """Lookup keys: the folded name and, for "Mount Everest" style names, the bare name."""
    keys = [fold(name)]
    if keys[0].startswith("the "):
        keys.append(keys[0][4:])
    return [k for k in keys if k]


@functools.cache
def landmark_table() -> LandmarkTable:
    """The shipped table (read once, a few milliseconds)."""
    landmarks: list[Landmark] = []
    names: list[tuple[str, int]] = []
    source = resources.files("ethan.geocode") / "data" / "landmarks.csv"
    with source.open("r", encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            countries = tuple(c for c in row["country"].split("|") if c)
            if row["kind"] not in KINDS or not countries:
                raise ValueError(f"landmarks.csv: bad kind or country in {row}")
            landmark = Landmark(
                row["name"], row["kind"], countries, float(row["lat"]), float(row["lon"])
            )
            i = len(landmarks)
            landmarks.append(landmark)
            names.append((row["name"], i))
            names.extend((alias, i) for alias in row["aliases"].split("|") if alias)
    return LandmarkTable(landmarks, names)
