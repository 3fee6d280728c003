"""Names to points and points to places, offline by default.

>>> from ethan.geocode import default_geocoder, reverse
>>> default_geocoder().search("Porto Alegre, Brazil").name     # doctest: +SKIP
'Porto Alegre, Rio Grande do Sul, Brazil'
>>> reverse(48.8566, 2.3522).country_code                       # doctest: +SKIP
'FR'
"""

from __future__ import annotations

from ethan.geocode.base import LEVELS, Geocoder, Level, Resolved
from ethan.geocode.check import PointCheck, check_point
from ethan.geocode.gazetteer import Gazetteer, default_geocoder
from ethan.geocode.hints import Narrowed, narrow, region_hint
from ethan.geocode.online import (
    ChainGeocoder,
    GeocodeCache,
    OfflineGeocoder,
    OnlineGeocoder,
    create_geocoder,
)
from ethan.geocode.resolve import resolve_guesses
from ethan.geocode.reverse import Place, ReverseGeocoder, reverse, reverse_many

__all__ = [
    "LEVELS",
    "ChainGeocoder",
    "Gazetteer",
    "GeocodeCache",
    "Geocoder",
    "Level",
    "Narrowed",
    "OfflineGeocoder",
    "OnlineGeocoder",
    "Place",
    "PointCheck",
    "Resolved",
    "ReverseGeocoder",
    "check_point",
    "create_geocoder",
    "default_geocoder",
    "narrow",
    "region_hint",
    "resolve_guesses",
    "reverse",
    "reverse_many",
]
