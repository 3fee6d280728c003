"""Names to points, offline by default.

>>> from ethan.geocode import default_geocoder
>>> default_geocoder().search("Porto Alegre, Brazil").name     # doctest: +SKIP
'Porto Alegre, Brazil'
"""

from __future__ import annotations

from ethan.geocode.base import LEVELS, Geocoder, Level, Resolved
from ethan.geocode.gazetteer import Gazetteer, default_geocoder
from ethan.geocode.resolve import resolve_guesses

__all__ = [
    "LEVELS",
    "Gazetteer",
    "Geocoder",
    "Level",
    "Resolved",
    "default_geocoder",
    "resolve_guesses",
]
