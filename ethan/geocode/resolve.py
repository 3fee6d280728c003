"""Model guesses to hypotheses: every hypothesis gets a real point and says where it came from."""

from __future__ import annotations

import logging
from typing import Any

from ethan.errors import GeocoderError
from ethan.geocode.base import Geocoder
from ethan.geocode.countries import CountryTable, continent_name, country_table
from ethan.types import Guess, Hypothesis, PointSource

log = logging.getLogger(__name__)

_SPECIFIC = frozenset({"landmark", "place", "city"})


def _fill_country(fields: dict[str, Any], table: CountryTable) -> None:
    """Fill a missing ``country_code`` / ``continent`` from the names already there."""
    if not fields.get("country_code") and fields.get("country"):
        fields["country_code"] = table.lookup(fields["country"], fuzzy=False)
    code = fields.get("country_code")
    if not fields.get("continent") and code:
        continent = table.continent_of(str(code))
        if continent is not None:
            fields["continent"] = continent_name(continent)


def resolve_guesses(
    guesses: list[Guess], geocoder: Geocoder, *, sample: int = 0
) -> list[Hypothesis]:
    """Hypotheses for the guesses that have a point, in input order; the others are dropped.

    A guess with coordinates keeps them (``source=stated``). A guess with names only is
    geocoded: a landmark, place or city match gives ``source=geocoded``, a region, country
    or continent match gives ``source=centroid``, with ``level`` saying which. A guess that
    resolves to nothing, or whose geocoder fails, is dropped: no made-up point.
    """
    table = country_table()
    hypotheses: list[Hypothesis] = []
    for guess in guesses:
        fields = guess.model_dump()
        if guess.has_point():
            _fill_country(fields, table)
            hypotheses.append(
                Hypothesis(**fields, source=PointSource.STATED, level=None, sample=sample)
            )
            continue
        if not guess.has_name():
            continue
        try:
            hit = geocoder.resolve(guess)
        except GeocoderError as exc:
            log.warning("geocoding %r failed: %s", guess.label(), exc)
            continue
        if hit is None:
            log.debug("no match for %r", guess.label())
            continue
        fields["lat"], fields["lon"] = hit.lat, hit.lon
        if not fields.get("country_code") and hit.country_code:
            fields["country_code"] = hit.country_code
        _fill_country(fields, table)
        source = PointSource.GEOCODED if hit.level in _SPECIFIC else PointSource.CENTROID
        hypotheses.append(Hypothesis(**fields, source=source, level=hit.level, sample=sample))
    return hypotheses
