"""Model guesses to hypotheses: every hypothesis gets a real point and says where it came from."""

from __future__ import annotations

import logging
from typing import Any

from ethan.errors import GeocoderError
from ethan.geocode.base import Geocoder, Resolved
from ethan.geocode.check import OUTSIDE_KM, check_point, km_outside, named_country
from ethan.geocode.countries import CountryTable, continent_name, country_table
from ethan.geocode.gazetteer import Gazetteer, default_geocoder
from ethan.geocode.hints import narrow, region_hint
from ethan.types import Guess, Hypothesis, PointSource

log = logging.getLogger(__name__)

_SPECIFIC = frozenset({"landmark", "place", "city"})
# the field of a guess that names a place of each level, filled in when narrowing
_FIELD = {"landmark": "place", "place": "place", "city": "city", "region": "region"}


def _fill_country(fields: dict[str, Any], table: CountryTable) -> None:
    """Fill a missing ``country_code`` / ``continent`` from the names already there."""
    if not fields.get("country_code") and fields.get("country"):
        fields["country_code"] = table.lookup(fields["country"], fuzzy=False)
    code = fields.get("country_code")
    if not fields.get("continent") and code:
        continent = table.continent_of(str(code))
        if continent is not None:
            fields["continent"] = continent_name(continent)


def _geocode(guess: Guess, geocoder: Geocoder) -> Resolved | None:
    try:
        return geocoder.resolve(guess)
    except GeocoderError as exc:
        log.warning("geocoding %r failed: %s", guess.label(), exc)
        return None


def _country_name(iso: str, table: CountryTable) -> str:
    info = table.info(iso)
    return info.name if info else iso


def _outside(hit: Resolved, iso: str) -> float:
    """km of a geocoded point outside country ``iso`` (0 when the geocoder says it is in)."""
    if hit.country_code is not None and hit.country_code.upper() == iso:
        return 0.0
    return km_outside(hit.lat, hit.lon, iso)


def _geocoded(
    guess: Guess, geocoder: Geocoder, iso: str | None, table: CountryTable
) -> tuple[Resolved | None, str | None]:
    """The geocoded point of a guess's names, and a note when they do not fit its country:
    a point more than :data:`OUTSIDE_KM` outside the named country is replaced by the
    country itself when that resolves, and flagged either way."""
    hit = _geocode(guess.model_copy(update={"lat": None, "lon": None}), geocoder)
    if hit is None or iso is None:
        return hit, None
    km = _outside(hit, iso)
    if km <= OUTSIDE_KM:
        return hit, None
    name = _country_name(iso, table)
    broad = _geocode(Guess(country=guess.country, country_code=guess.country_code), geocoder)
    if broad is not None and _outside(broad, iso) <= OUTSIDE_KM:
        return broad, f"misfit: {guess.label()!r} matched {hit.name}, {km:,.0f} km outside {name}"
    return hit, f"misfit: {hit.name} lies {km:,.0f} km outside {name} and no reading fits"


def _hypothesis(
    fields: dict[str, Any], hit: Resolved, sample: int, check: str | None, table: CountryTable
) -> Hypothesis:
    fields["lat"], fields["lon"] = hit.lat, hit.lon
    if not fields.get("country_code") and hit.country_code:
        fields["country_code"] = hit.country_code
    _fill_country(fields, table)
    source = PointSource.GEOCODED if hit.level in _SPECIFIC else PointSource.CENTROID
    return Hypothesis(**fields, source=source, level=hit.level, sample=sample, check=check)


def _gazetteer(geocoder: Geocoder) -> Gazetteer:
    """The offline gazetteer behind ``geocoder`` (the first of a chain), else the default."""
    if isinstance(geocoder, Gazetteer):
        return geocoder
    for inner in getattr(geocoder, "geocoders", ()):
        if isinstance(inner, Gazetteer):
            return inner
    return default_geocoder()


def _narrowed(
    fields: dict[str, Any],
    guess: Guess,
    hit: Resolved,
    reasoning: str,
    geocoder: Geocoder,
    sample: int,
    check: str | None,
    table: CountryTable,
) -> Hypothesis:
    """The hypothesis of a geocoded guess; a broad one (region, country) moved to the place
    inside it that the reasoning names most (``source=mentioned``, ``level`` of that place,
    its name in the matching empty field), when it names one."""
    if not reasoning.strip():
        return _hypothesis(fields, hit, sample, check, table)
    if hit.level == "city":
        namesake = region_hint(hit, guess, reasoning, _gazetteer(geocoder))
        if namesake is not None:
            fields["region"] = namesake.name.split(", ")[-2]
        return _hypothesis(fields, namesake or hit, sample, check, table)
    if hit.level not in ("region", "country"):
        return _hypothesis(fields, hit, sample, check, table)
    found = narrow(hit, guess, reasoning, _gazetteer(geocoder))
    if found is None:
        return _hypothesis(fields, hit, sample, check, table)
    place = found.resolved
    field = _FIELD[place.level]
    if not fields.get(field):
        fields[field] = place.name.split(", ")[0]
    fields["lat"], fields["lon"] = place.lat, place.lon
    if not fields.get("country_code") and place.country_code:
        fields["country_code"] = place.country_code
    _fill_country(fields, table)
    return Hypothesis(
        **fields, source=PointSource.MENTIONED, level=place.level, sample=sample, check=check
    )


def resolve_guesses(
    guesses: list[Guess], geocoder: Geocoder, *, sample: int = 0, reasoning: str = ""
) -> list[Hypothesis]:
    """Hypotheses for the guesses that have a point, in input order; the others are dropped.

    A guess with coordinates keeps them (``source=stated``) unless they contradict the
    country it names: then a sign flip or a lat/lon swap that puts them inside is applied,
    or else the guess's names are geocoded instead; ``check`` says which. A guess with names
    only is geocoded: a landmark, place or city match gives ``source=geocoded``, a region,
    country or continent match gives ``source=centroid``, with ``level`` saying which; a
    match outside the named country falls back to the country (``check`` says so). A guess
    that resolves to nothing, or whose geocoder fails, is dropped: no made-up point.

    ``reasoning``, the answer's own reasoning text, narrows a guess that only resolves to a
    region or country: the place inside that area which the reasoning names most becomes
    the point (``source=mentioned``, ``level`` its own; see :mod:`ethan.geocode.hints`).
    Never a place outside the area.
    """
    table = country_table()
    hypotheses: list[Hypothesis] = []
    for guess in guesses:
        fields = guess.model_dump()
        iso = named_country(guess, table)
        if guess.has_point():
            assert guess.lat is not None and guess.lon is not None
            _fill_country(fields, table)
            check: str | None = None
            if iso is not None:
                checked = check_point(guess.lat, guess.lon, iso)
                name = _country_name(iso, table)
                where = f"the stated point lay {checked.km_outside:,.0f} km outside {name}"
                if checked.repair is not None:
                    fields["lat"], fields["lon"] = checked.lat, checked.lon
                    check = f"repaired: {checked.repair} ({where})"
                elif not checked.fits:
                    hit, note = _geocoded(guess, geocoder, iso, table)
                    if hit is not None and note is None and guess.has_name():
                        check = f"replaced: {where}; its names were geocoded"
                        hypotheses.append(
                            _narrowed(fields, guess, hit, reasoning, geocoder, sample, check, table)
                        )
                        continue
                    check = f"outside: {where} and no name fits it"
            hypotheses.append(
                Hypothesis(
                    **fields, source=PointSource.STATED, level=None, sample=sample, check=check
                )
            )
            continue
        if not guess.has_name():
            continue
        hit, note = _geocoded(guess, geocoder, iso, table)
        if hit is None:
            log.debug("no match for %r", guess.label())
            continue
        hypotheses.append(_narrowed(fields, guess, hit, reasoning, geocoder, sample, note, table))
    return hypotheses
