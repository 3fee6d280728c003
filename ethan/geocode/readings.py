"""Readings of a guess: one name per field, with names spilled from one field split out.

Models often write "City, Region, Country" in a single field. :func:`readings` splits it
into separate fields; where the last spilled part may be a country or a region ("Springfield,
IL"), each reading is returned and the gazetteer keeps the most specific result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ethan.geocode.text import fold, is_unknown, split_parts
from ethan.types import Guess


@dataclass(frozen=True)
class Fields:
    """One reading of a guess: a single name per field."""

    place: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None
    continent: str | None = None


def clean(text: str | None) -> str | None:
    return None if text is None or is_unknown(text) else text.strip()


def _has_parts(text: str) -> bool:
    return "," in text or ";" in text


def readings(
    guess: Guess,
    is_country: Callable[[str], bool],
    is_us: Callable[[str], bool],
    is_state: Callable[[str], bool],
) -> list[Fields]:
    """The readings of ``guess``: ``is_country`` / ``is_state`` tell whether a name is a
    country / a US state; ``is_us`` whether a country name is the United States."""
    fields = {
        "place": clean(guess.place),
        "city": clean(guess.city),
        "region": clean(guess.region),
        "country": clean(guess.country),
    }
    spill: list[str] = []
    for name in ("place", "city", "region"):
        value = fields[name]
        if value and _has_parts(value):
            parts = split_parts(value)
            fields[name] = parts[0] if parts else None
            spill.extend(parts[1:])
    country = fields["country"]
    if country and _has_parts(country) and not is_country(country):
        parts = split_parts(country)
        fields["country"] = parts[-1] if parts else None
        spill.extend(parts[:-1])
    known = {fold(v) for v in fields.values() if v}
    spill = [p for p in spill if fold(p) not in known]
    base = Fields(
        country_code=clean(guess.country_code),
        continent=clean(guess.continent),
        **fields,
    )
    if not spill:
        return [base]

    out: list[Fields] = []
    last, rest = spill[-1], spill[:-1]
    as_country = base.country is None and is_country(last)
    if as_country:
        out.append(fill(replace(base, country=last), rest))
    us = base.country is None or is_us(base.country)
    if us and base.region is None and is_state(last):
        out.append(fill(replace(base, region=last), rest))
    if not as_country:
        # "Times Square, New York": the spilled names may also be a city
        out.append(fill(base, spill))
    return out


def fill(fields: Fields, names: list[str]) -> Fields:
    """Put leftover names, specific first, into the empty city and region fields."""
    pending = list(names)
    city = fields.city
    region = fields.region
    if city is None and pending:
        city = pending.pop(0)
    if region is None and pending:
        region = pending.pop(0)
    return replace(fields, city=city, region=region)
