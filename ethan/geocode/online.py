"""Online geocoders through geopy, the offline gazetteer as a geopy geocoder, and chains.

``create_geocoder("offline")`` is the embedded gazetteer; ``create_geocoder("nominatim",
domain="127.0.0.1:8080", scheme="http")`` any geopy service (Nominatim, Photon, Pelias,
ArcGIS, GoogleV3...), looked up with :func:`geopy.geocoders.get_geocoder_for_service`, its
calls spaced by geopy's ``RateLimiter``, bounded by a timeout and remembered in a persistent
SQLite cache; ``create_geocoder("offline,nominatim")`` tries each in turn and keeps the first
answer ("offline first, online for what it cannot resolve"). geopy's errors become
:class:`~ethan.errors.GeocoderError` / :class:`~ethan.errors.GeocoderTimedOutError`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from geopy import Location, Point
from geopy.exc import GeocoderServiceError, GeocoderTimedOut, GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import get_geocoder_for_service
from geopy.geocoders.base import Geocoder as GeopyGeocoder

from ethan.errors import ConfigError, GeocoderError, GeocoderTimedOutError
from ethan.geocode.base import Geocoder, Resolved
from ethan.geocode.gazetteer import Gazetteer, default_geocoder
from ethan.types import Guess

DEFAULT_USER_AGENT = "ethan-geolocation"
# the public Nominatim allows one request a second; others get the same polite default
DEFAULT_MIN_DELAY_S = 1.0


class OfflineGeocoder(GeopyGeocoder):  # type: ignore[misc]
    """The embedded gazetteer behind geopy's interface: ``geocode`` returns a
    :class:`geopy.Location` (``raw`` holds the level, name and ISO code) or ``None``."""

    def __init__(self, gazetteer: Gazetteer | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gazetteer = gazetteer if gazetteer is not None else default_geocoder()

    def geocode(self, query: str, *, exactly_one: bool = True, **_: Any) -> Any:
        hit = self.gazetteer.search(query)
        if hit is None:
            return None
        location = Location(hit.name, Point(hit.lat, hit.lon), hit.model_dump())
        return location if exactly_one else [location]

    def reverse(self, query: Any, *, exactly_one: bool = True, **_: Any) -> Any:
        from ethan.geocode.reverse import reverse

        point = Point(query)
        place = reverse(point.latitude, point.longitude)
        if place.country_code is None:
            return None
        address = ", ".join(p for p in (place.region, place.country) if p)
        location = Location(address, point, place.model_dump())
        return location if exactly_one else [location]


class GeocodeCache:
    """Persistent query → answer cache (SQLite, one row per service and query)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS geocode (service TEXT, query TEXT, answer TEXT,"
            " PRIMARY KEY (service, query))"
        )
        self._db.commit()

    def get(self, service: str, query: str) -> tuple[bool, dict[str, Any] | None]:
        """(found, answer); an answer of ``None`` is a remembered miss."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer FROM geocode WHERE service = ? AND query = ?", (service, query)
            ).fetchone()
        if row is None:
            return False, None
        return True, json.loads(row[0])

    def put(self, service: str, query: str, answer: dict[str, Any] | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO geocode VALUES (?, ?, ?)",
                (service, query, json.dumps(answer)),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class OnlineGeocoder:
    """A geopy geocoder as an ethan :class:`Geocoder`: rate-limited, cached, errors mapped.

    A guess is sent as one query from the specific to the general ("Porto Alegre, Rio
    Grande do Sul, Brazil"); the level of the answer is the most specific field given.
    """

    def __init__(
        self,
        geocoder: GeopyGeocoder,
        *,
        service: str,
        min_delay_seconds: float = DEFAULT_MIN_DELAY_S,
        cache: GeocodeCache | None = None,
    ) -> None:
        self.geocoder = geocoder
        self.service = service
        self.cache = cache
        self._lookup: Callable[..., Any] = RateLimiter(
            geocoder.geocode,
            min_delay_seconds=min_delay_seconds,
            max_retries=0,
            swallow_exceptions=False,
        )

    def search(self, query: str) -> Resolved | None:
        return self._query(query, "city")

    def resolve(self, guess: Guess) -> Resolved | None:
        parts = [guess.place, guess.city, guess.region, guess.country or guess.country_code]
        query = ", ".join(p.strip() for p in parts if p and p.strip())
        if not query:
            query = (guess.continent or "").strip()
        if not query:
            return None
        level = (
            "place"
            if guess.place
            else "city"
            if guess.city
            else "region"
            if guess.region
            else "country"
            if guess.country or guess.country_code
            else "continent"
        )
        return self._query(query, level)

    def _query(self, query: str, level: str) -> Resolved | None:
        if self.cache is not None:
            found, answer = self.cache.get(self.service, query)
            if found:
                return _resolved(answer, level)
        try:
            location = self._lookup(query)
        except GeocoderTimedOut as exc:
            raise GeocoderTimedOutError(f"{self.service} timed out on {query!r}: {exc}") from exc
        except (GeocoderServiceError, GeopyError) as exc:
            if _timed_out(exc):  # geopy's requests adapter reports read timeouts this way
                raise GeocoderTimedOutError(
                    f"{self.service} timed out on {query!r}: {exc}"
                ) from exc
            raise GeocoderError(f"{self.service} failed on {query!r}: {exc}") from exc
        answer = None
        if location is not None:
            answer = {
                "lat": float(location.latitude),
                "lon": float(location.longitude),
                "name": str(location.address),
            }
        if self.cache is not None:
            self.cache.put(self.service, query, answer)
        return _resolved(answer, level)


def _timed_out(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or "timed out" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _resolved(answer: dict[str, Any] | None, level: str) -> Resolved | None:
    if answer is None:
        return None
    return Resolved.model_validate({**answer, "level": level})


class ChainGeocoder:
    """Each geocoder in turn; the first answer wins. A failing geocoder is skipped unless
    it is the last one asked."""

    def __init__(self, geocoders: Sequence[Geocoder]) -> None:
        if not geocoders:
            raise ValueError("a chain needs at least one geocoder")
        self.geocoders = list(geocoders)

    def resolve(self, guess: Guess) -> Resolved | None:
        error: GeocoderError | None = None
        for geocoder in self.geocoders:
            try:
                hit = geocoder.resolve(guess)
            except GeocoderError as exc:
                error = exc
                continue
            if hit is not None:
                return hit
        if error is not None:
            raise error
        return None


def create_geocoder(spec: str = "offline", **options: Any) -> Geocoder:
    """A geocoder from a spec: ``offline`` (default), a geopy service name, or a chain of
    them separated by commas (``offline,nominatim``).

    Options go to the online geocoders: ``domain``, ``scheme``, ``user_agent``, ``api_key``,
    ``timeout`` (s), ``min_delay_seconds`` (rate limit), ``cache`` (``False``, or a
    :class:`GeocodeCache` / path; default: ``geocode.sqlite`` in the user cache dir), and any
    other keyword the geopy class accepts. ``broad`` and ``min_city_population`` go to the
    offline gazetteer.
    """
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError("empty geocoder spec; use 'offline', a geopy service, or a chain")
    built = [_one(name, dict(options)) for name in names]
    return built[0] if len(built) == 1 else ChainGeocoder(built)


_OFFLINE_OPTIONS = ("broad", "min_city_population", "landmarks")


def _one(name: str, options: dict[str, Any]) -> Geocoder:
    offline = {k: options.pop(k) for k in _OFFLINE_OPTIONS if k in options}
    if name in ("offline", "gazetteer"):
        return Gazetteer(**offline) if offline else default_geocoder()
    try:
        cls = get_geocoder_for_service(name)
    except GeopyError as exc:
        raise ConfigError(f"unknown geocoder {name!r}: {exc}") from exc
    min_delay = float(options.pop("min_delay_seconds", DEFAULT_MIN_DELAY_S))
    cache_opt = options.pop("cache", True)
    options.setdefault("user_agent", DEFAULT_USER_AGENT)
    options.setdefault("timeout", 10)
    api_key = options.pop("api_key", None)
    if api_key is not None:
        options[_key_argument(cls)] = api_key
    try:
        geocoder = cls(**options)
    except (TypeError, GeopyError) as exc:
        raise ConfigError(f"cannot set up geocoder {name!r}: {exc}") from exc
    cache: GeocodeCache | None
    if isinstance(cache_opt, GeocodeCache):
        cache = cache_opt
    elif cache_opt is False or cache_opt is None:
        cache = None
    elif cache_opt is True:
        from ethan.paths import user_cache_dir

        cache = GeocodeCache(user_cache_dir() / "geocode.sqlite")
    else:
        cache = GeocodeCache(Path(cache_opt))
    domain = options.get("domain", "")
    return OnlineGeocoder(
        geocoder,
        service=f"{name}:{domain}" if domain else name,
        min_delay_seconds=min_delay,
        cache=cache,
    )


def _key_argument(cls: type[Any]) -> str:
    """The name geopy's class uses for its credential (``api_key``, ``apikey``, ``key``)."""
    import inspect

    parameters = inspect.signature(cls.__init__).parameters
    for candidate in ("api_key", "apikey", "key", "username"):
        if candidate in parameters:
            return candidate
    raise ConfigError(f"{cls.__name__} takes no API key")
