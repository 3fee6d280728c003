"""Online geocoders through geopy against a real local HTTP server (Nominatim and Photon
protocols), the offline geopy geocoder, chains, the persistent cache and error mapping."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from geopy import Location

from ethan.errors import ConfigError, GeocoderError, GeocoderTimedOutError
from ethan.geocode import Gazetteer
from ethan.geocode.online import (
    ChainGeocoder,
    GeocodeCache,
    OfflineGeocoder,
    OnlineGeocoder,
    create_geocoder,
)
from ethan.types import Guess

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TRUTH = SHARED / "corpus" / "streetview-dev" / "truth.csv"


def _places() -> dict[str, tuple[float, float, str]]:
    """ "city, country" (lower case) → (lat, lon, name), from the corpus' true labels."""
    out: dict[str, tuple[float, float, str]] = {}
    with TRUTH.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name = f"{row['city']}, {row['country']}"
            out[name.lower()] = (float(row["lat"]), float(row["lng"]), name)
    return out


class _Handler(BaseHTTPRequestHandler):
    places: ClassVar[dict[str, tuple[float, float, str]]] = {}
    requests: ClassVar[list[str]] = []
    arrivals: ClassVar[list[float]] = []
    delay_s = 0.0
    fail = False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query).get("q", [""])[0]
        type(self).requests.append(f"{url.path}?{query}")
        type(self).arrivals.append(time.monotonic())
        if self.fail:
            self._send(503, {"error": "overloaded"})
            return
        if self.delay_s:
            time.sleep(self.delay_s)
        hit = self.places.get(query.lower())
        if url.path == "/search":  # Nominatim
            body: Any = (
                [{"lat": str(hit[0]), "lon": str(hit[1]), "display_name": hit[2]}] if hit else []
            )
        elif url.path == "/api":  # Photon
            features = []
            if hit:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [hit[1], hit[0]]},
                        "properties": {"name": hit[2].split(",")[0], "country": "X"},
                    }
                )
            body = {"type": "FeatureCollection", "features": features}
        else:
            self._send(404, {"error": "not found"})
            return
        self._send(200, body)

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.places = _places()
    _Handler.requests = []
    _Handler.arrivals = []
    _Handler.delay_s = 0.0
    _Handler.fail = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _online(domain: str, tmp_path: Path, service: str = "nominatim", **kw: Any) -> Any:
    return create_geocoder(
        service,
        domain=domain,
        scheme="http",
        min_delay_seconds=0.0,
        cache=tmp_path / "geocode.sqlite",
        **kw,
    )


def test_nominatim_protocol(server: str, tmp_path: Path) -> None:
    geo = _online(server, tmp_path)
    assert isinstance(geo, OnlineGeocoder)
    hit = geo.resolve(Guess(city="Ballarat", country="Australia"))
    assert hit is not None and hit.level == "city"
    assert (round(hit.lat, 3), round(hit.lon, 3)) == (-37.560, 143.848)
    assert hit.name == "Ballarat, Australia"
    assert geo.resolve(Guess(city="Nowhere", country="Atlantis")) is None
    assert _Handler.requests == ["/search?Ballarat, Australia", "/search?Nowhere, Atlantis"]


def test_photon_protocol(server: str, tmp_path: Path) -> None:
    geo = _online(server, tmp_path, "photon")
    hit = geo.resolve(Guess(city="Rockhampton", country="Australia"))
    assert hit is not None and round(hit.lat, 2) == -23.38
    assert _Handler.requests == ["/api?Rockhampton, Australia"]


def test_answers_and_misses_are_cached_on_disk(server: str, tmp_path: Path) -> None:
    geo = _online(server, tmp_path)
    first = geo.resolve(Guess(city="Ballarat", country="Australia"))
    assert geo.resolve(Guess(city="Nowhere")) is None
    again = _online(server, tmp_path)  # a new process would read the same file
    assert again.resolve(Guess(city="Ballarat", country="Australia")) == first
    assert again.resolve(Guess(city="Nowhere")) is None
    assert len(_Handler.requests) == 2


def test_rate_limit_spaces_requests(server: str, tmp_path: Path) -> None:
    geo = create_geocoder(
        "nominatim", domain=server, scheme="http", min_delay_seconds=0.3, cache=False
    )
    started = time.perf_counter()
    for city in ("Ballarat", "Rockhampton", "Ballarat"):
        geo.resolve(Guess(city=city, country="Australia"))
    assert time.perf_counter() - started >= 0.55  # two gaps of 0.3 s
    assert len(_Handler.requests) == 3  # cache=False asks every time


def test_errors_are_mapped(server: str, tmp_path: Path) -> None:
    _Handler.fail = True
    with pytest.raises(GeocoderError, match="nominatim"):
        _online(server, tmp_path).resolve(Guess(city="Ballarat"))
    _Handler.fail = False
    _Handler.delay_s = 1.0
    with pytest.raises(GeocoderTimedOutError):
        _online(server, tmp_path, timeout=0.2).resolve(Guess(city="Ballarat"))
    assert issubclass(GeocoderTimedOutError, TimeoutError)


def test_chain_offline_first(server: str, tmp_path: Path) -> None:
    chain = create_geocoder(
        "offline,nominatim",
        domain=server,
        scheme="http",
        min_delay_seconds=0.0,
        cache=tmp_path / "c.sqlite",
    )
    assert isinstance(chain, ChainGeocoder)
    hit = chain.resolve(Guess(city="Rockhampton", country="Australia"))
    assert hit is not None and hit.level == "city"
    assert _Handler.requests == []  # the gazetteer knew it
    # the gazetteer finds nothing here; the online service does
    _Handler.places["qxzzyv street, ballarat"] = (-37.56, 143.85, "Qxzzyv Street, Ballarat")
    hit = chain.resolve(Guess(place="Qxzzyv Street", city="Ballarat"))
    assert hit is not None
    assert hit.level == "city"  # the gazetteer's answer (Ballarat) comes first
    assert chain.resolve(Guess(place="Qxzzyv Street, Ballarat")) is not None


def test_chain_skips_a_failing_service(server: str, tmp_path: Path) -> None:
    _Handler.fail = True
    online = _online(server, tmp_path)
    chain = ChainGeocoder([online, Gazetteer()])
    hit = chain.resolve(Guess(city="Ballarat", country="Australia"))
    assert hit is not None and hit.level == "city"
    with pytest.raises(GeocoderError):
        ChainGeocoder([Gazetteer(), online]).resolve(Guess(city="Qxzzyvtown"))


def test_create_geocoder_specs() -> None:
    assert isinstance(create_geocoder(), Gazetteer)
    assert isinstance(create_geocoder("offline", broad="centroid"), Gazetteer)
    with pytest.raises(ConfigError, match="unknown geocoder"):
        create_geocoder("no-such-service")
    with pytest.raises(ConfigError):
        create_geocoder(" , ")
    google = create_geocoder("googlev3", api_key="k", cache=False)
    assert isinstance(google, OnlineGeocoder) and google.geocoder.api_key == "k"


def test_offline_geopy_geocoder() -> None:
    geo = OfflineGeocoder()
    location = geo.geocode("Eiffel Tower")
    assert isinstance(location, Location)
    assert round(location.latitude, 2) == 48.86 and location.raw["level"] == "landmark"
    assert geo.geocode("Qxzzyvtown") is None
    assert len(geo.geocode("Porto Alegre, Brazil", exactly_one=False)) == 1
    back = geo.reverse("48.8566, 2.3522")
    assert back is not None and back.raw["country_code"] == "FR"
    assert geo.reverse((0.0, -140.0)) is None


def test_cache_file(tmp_path: Path) -> None:
    cache = GeocodeCache(tmp_path / "sub" / "g.sqlite")
    assert cache.get("s", "q") == (False, None)
    cache.put("s", "q", None)
    assert cache.get("s", "q") == (True, None)
    cache.put("s", "q", {"lat": 1.0, "lon": 2.0, "name": "x"})
    assert cache.get("s", "q") == (True, {"lat": 1.0, "lon": 2.0, "name": "x"})
    cache.close()


def test_lookups_for_different_images_overlap_within_the_rate_limit(
    server: str, tmp_path: Path
) -> None:
    """8 photos whose answers name only a city, each lookup 0.5 s on the server: with the
    geocoder off the event loop they overlap, spaced by the rate limit, and the loop ticks."""
    import asyncio

    from ethan import Geolocator

    images = sorted((TRUTH.parent / "images").glob("*.jpg"))[:8]
    with TRUTH.open(encoding="utf-8", newline="") as f:
        truth = {row["filename"]: row for row in csv.DictReader(f)}
    answers = tmp_path / "answers.csv"
    with answers.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "model_response"])
        for image in images:
            row = truth[image.name]
            guess = {"city": row["city"], "country": row["country"]}
            writer.writerow([image.name, json.dumps({"guesses": [guess]})])
    _Handler.delay_s = 0.5
    geocoder = create_geocoder(
        "nominatim", domain=server, scheme="http", min_delay_seconds=0.05, cache=False
    )
    geo = Geolocator(
        "replay", backend_options={"responses": answers}, geocoder=geocoder, cache=False
    )
    gaps: list[float] = []
    # the country table is built once per process, in one C-heavy step that holds the GIL;
    # built here, the ticks below measure the lookups alone
    from ethan.geocode.resolve import country_table

    country_table()

    async def main() -> tuple[int, float]:
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.02)
                gaps.append(time.perf_counter() - last)
                last = time.perf_counter()

        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        ok = sum([p.ok async for p in geo.locate_many(images, concurrency=8)])
        elapsed = time.perf_counter() - started
        done.set()
        await tick
        await geo.aclose()
        return ok, elapsed

    ok, elapsed = asyncio.run(main())
    # one lookup per photo (a point found outside its named country is followed by a lookup
    # of that country, so there may be more)
    assert ok == 8 and len(set(_Handler.requests)) >= 8
    arrivals = _Handler.arrivals
    overlapping = max(sum(a <= b < a + 0.5 for b in arrivals) for a in arrivals)
    assert overlapping >= 4, f"at most {overlapping} lookups were in flight at once"
    assert elapsed < 2.4, f"8 lookups of 0.5 s took {elapsed:.2f} s: they did not overlap"
    # geopy's RateLimiter still holds them to its pace: 8 calls take 7 slots of 0.05 s or so
    assert arrivals[-1] - arrivals[0] >= 0.25
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"
