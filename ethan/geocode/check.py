"""Stated coordinates and geocoded points checked against the country named with them.

Models often write a point that contradicts their own names: a dropped minus sign (Buenos
Aires in the Arabian Sea), latitude and longitude swapped, or the example coordinates of the
prompt copied unchanged. :func:`check_point` measures how far a point lies outside the
country the guess names (its territories count as inside: San Juan is in the United States'
Puerto Rico); a point more than :data:`OUTSIDE_KM` outside is flagged, repaired when one sign
flip or a swap puts it inside, and otherwise left to the caller, which prefers the
geocoded names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ethan.geocode.aliases import TERRITORIES
from ethan.geocode.countries import CountryTable
from ethan.types import Guess

OUTSIDE_KM = 50.0  # a point farther than this outside the named country contradicts it


def related_countries(iso: str) -> tuple[str, ...]:
    """``iso`` with its territories and the country it is a territory of ("PR" → PR, US)."""
    parents = tuple(p for p, kids in TERRITORIES.items() if iso in kids)
    return (iso, *TERRITORIES.get(iso, ()), *parents)


def named_country(guess: Guess, table: CountryTable) -> str | None:
    """ISO2 code of the country a guess names (by name, else by code), if it is known."""
    iso = table.lookup(guess.country) if guess.country else None
    if iso is None and guess.country_code:
        iso = table.lookup(guess.country_code)
    return iso


@dataclass(frozen=True)
class PointCheck:
    """How a point relates to the named country."""

    lat: float
    lon: float
    km_outside: float  # of the point as stated
    repair: str | None = None  # what was changed, when (lat, lon) is a repaired point

    @property
    def fits(self) -> bool:
        return self.repair is not None or self.km_outside <= OUTSIDE_KM


def _repairs(lat: float, lon: float) -> Iterator[tuple[float, float, str]]:
    yield lat, -lon, "longitude sign flipped"
    yield -lat, lon, "latitude sign flipped"
    yield -lat, -lon, "both signs flipped"
    if abs(lon) <= 90:
        yield lon, lat, "latitude and longitude swapped"
        yield lon, -lat, "swapped, longitude sign flipped"
        yield -lon, lat, "swapped, latitude sign flipped"
        yield -lon, -lat, "swapped, both signs flipped"


def check_point(lat: float, lon: float, iso: str) -> PointCheck:
    """The point as stated when it lies in (or within :data:`OUTSIDE_KM` of) country
    ``iso``, else the first sign flip or swap that does, else the point flagged as outside."""
    from ethan.geocode.reverse import default_reverse_geocoder

    reverse = default_reverse_geocoder()
    codes = related_countries(iso)
    km = reverse.km_outside(lat, lon, codes)
    if km <= OUTSIDE_KM:
        return PointCheck(lat, lon, km)
    for new_lat, new_lon, how in _repairs(lat, lon):
        if (new_lat, new_lon) != (lat, lon) and reverse.km_outside(new_lat, new_lon, codes) == 0:
            return PointCheck(new_lat, new_lon, km, how)
    return PointCheck(lat, lon, km)


def km_outside(lat: float, lon: float, iso: str) -> float:
    """Great-circle km from a point to country ``iso`` or its territories (0 inside)."""
    from ethan.geocode.reverse import default_reverse_geocoder

    return default_reverse_geocoder().km_outside(lat, lon, related_countries(iso))
