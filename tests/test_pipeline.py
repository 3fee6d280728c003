"""The whole path on real recorded answers of six real VLMs, over real HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ethan import Geolocator, PointSource, ResponseCache, Status
from ethan.geo import haversine_km
from tests.conftest import MODELS, STREETVIEW, locate_all
from tests.replay_server import ReplayServer

IMAGES = sorted((STREETVIEW / "images").iterdir())


def _truth() -> dict[str, tuple[float, float, str, str]]:
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        return {
            r["filename"]: (float(r["lat"]), float(r["lng"]), r["city"], r["country"])
            for r in csv.DictReader(fh)
        }


def _geo(server: ReplayServer, model: str, **settings: object) -> Geolocator:
    return Geolocator(
        "openai", model=model, backend_options={"base_url": server.base_url}, **settings
    )


# Median error bounds a little above what each model's recorded answers score (km).
MEDIAN_KM = {
    "gpt-4o": 400,
    "gpt-4o-mini": 550,
    "claude-3.5-sonnet": 650,
    "gemini-1.5-flash": 500,
    "llama-3.2-11b-vision": 1200,
    "llava-v1.6-mistral-7b": 4000,
}


@pytest.mark.parametrize("model", MODELS)
def test_every_model_every_image(server: ReplayServer, model: str) -> None:
    predictions = locate_all(_geo(server, model), IMAGES)
    assert sorted(Path(p.image).name for p in predictions) == [p.name for p in IMAGES]
    truth = _truth()
    shares = Counter(p.status.value for p in predictions)
    errors: list[float] = []
    for p in predictions:
        name = Path(p.image).name
        assert p.raw == [server.corpus.answers[model][name]]
        if p.status is Status.OK:
            assert p.lat is not None and p.lon is not None
            assert p.hypotheses, "an answered prediction keeps its hypotheses"
            assert (p.lat, p.lon) != (0.0, 0.0)
            lat, lon, _, _ = truth[name]
            errors.append(float(haversine_km(lat, lon, p.lat, p.lon)))
        else:
            assert p.lat is None and p.lon is None
            assert p.message, "a failure says why"
    print(f"\n{model}: {dict(shares)} median error {np.median(errors):.0f} km")
    assert shares["error"] == 0
    # Real answers from these models name a place or give coordinates nearly always.
    assert shares["ok"] / len(predictions) >= 0.85
    assert float(np.median(errors)) < MEDIAN_KM[model]


def test_names_only_answers_are_geocoded(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer without coordinates still gets a point, marked as geocoded."""
    name = IMAGES[0].name
    monkeypatch.setitem(
        server.corpus.answers, "gpt-4o", {name: "It looks like the old town of Porto, Portugal."}
    )
    [p] = locate_all(_geo(server, "gpt-4o"), [IMAGES[0]])
    assert p.status is Status.OK
    assert p.hypotheses[0].source in (PointSource.GEOCODED, PointSource.CENTROID)
    assert p.lat is not None and p.lon is not None
    assert haversine_km(41.15, -8.61, p.lat, p.lon) < 50


def test_refusal_is_refused_with_no_point(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = IMAGES[0].name
    monkeypatch.setitem(
        server.corpus.answers,
        "gpt-4o",
        {name: "I'm sorry, but I can't help with identifying the location of this photo."},
    )
    [p] = locate_all(_geo(server, "gpt-4o"), [IMAGES[0]])
    assert p.status is Status.REFUSED
    assert (p.lat, p.lon) == (None, None)


def test_text_without_answer_is_unparsed_never_zero_zero(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = IMAGES[0].name
    monkeypatch.setitem(
        server.corpus.answers,
        "gpt-4o",
        {name: 'The photo shows a street with trees and parked cars. {"lat": "unknown"}'},
    )
    [p] = locate_all(_geo(server, "gpt-4o"), [IMAGES[0]])
    assert p.status is Status.UNPARSED
    assert (p.lat, p.lon) == (None, None)
    assert p.to_json_line().count('"lat":null') == 1


def test_samples_are_aggregated_by_medoid(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = IMAGES[0].name
    guesses = [
        {"city": "Paris", "country": "France", "lat": 48.8566, "lon": 2.3522, "probability": 0.4},
        {"city": "New York", "country": "US", "lat": 40.7128, "lon": -74.006, "probability": 0.35},
        {"city": "Lyon", "country": "France", "lat": 45.764, "lon": 4.8357, "probability": 0.25},
    ]
    monkeypatch.setitem(server.corpus.answers, "gpt-4o", {name: json.dumps({"guesses": guesses})})
    [p] = locate_all(_geo(server, "gpt-4o", samples=2), [IMAGES[0]])
    assert p.status is Status.OK
    assert len(p.raw) == 2 and len(p.hypotheses) == 6
    # A plain mean of these would land in the Atlantic; the medoid is one of the guesses.
    assert p.lat is not None and p.lon is not None
    assert min(haversine_km(h.lat, h.lon, p.lat, p.lon) for h in p.hypotheses) < 1e-6
    assert haversine_km(48.8566, 2.3522, p.lat, p.lon) < 1


def test_bytes_on_the_wire_carry_no_exif(server: ReplayServer, tmp_path: Path) -> None:
    """A photo with EXIF GPS is sent without any metadata, and its truth never leaks."""
    with Image.open(IMAGES[0]) as img:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"  # Make
        gps = {1: "S", 2: (37.0, 33.0, 34.66), 3: "E", 4: (143.0, 50.0, 51.38)}
        exif[0x8825] = gps
        exif[0x0112] = 1
        buf = io.BytesIO()
        img.save(buf, "JPEG", exif=exif, comment=b"taken at Ballarat")
    photo = tmp_path / "with_gps.jpg"
    photo.write_bytes(buf.getvalue())
    assert b"Exif" in photo.read_bytes() and b"SecretCam" in photo.read_bytes()

    [p] = locate_all(_geo(server, "gpt-4o"), [photo])
    assert p.status is Status.OK
    body = server.requests[0].body
    url = server.requests[0].json()["messages"][-1]["content"][-1]["image_url"]["url"]
    import base64

    sent = base64.b64decode(url.split(",", 1)[1])
    assert sent[:2] == b"\xff\xd8"
    for marker in (b"Exif", b"SecretCam", b"Ballarat", b"http://ns.adobe.com", b"ICC_PROFILE"):
        assert marker not in sent
    with Image.open(io.BytesIO(sent)) as received:
        assert not received.getexif()
        assert "comment" not in received.info
    assert b"SecretCam" not in body and b"Ballarat" not in body


def test_cache_makes_a_rerun_free(server: ReplayServer, tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    first = locate_all(_geo(server, "gpt-4o", cache=ResponseCache(cache_path)), IMAGES[:5])
    assert len(server.requests) == 5
    second = locate_all(_geo(server, "gpt-4o", cache=ResponseCache(cache_path)), IMAGES[:5])
    assert len(server.requests) == 5, "a cached re-run sends nothing"
    assert all(p.cached for p in second)
    key = {p.image: (p.lat, p.lon) for p in first}
    assert {p.image: (p.lat, p.lon) for p in second} == key
    # A different template is a different request.
    locate_all(_geo(server, "gpt-4o", cache=ResponseCache(cache_path), template="cot"), IMAGES[:1])
    assert len(server.requests) == 6
    # --no-cache bypasses it.
    locate_all(_geo(server, "gpt-4o", cache=False), IMAGES[:1])
    assert len(server.requests) == 7


def test_unreadable_image_is_an_error_and_the_batch_goes_on(
    server: ReplayServer, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    predictions = locate_all(_geo(server, "gpt-4o"), [bad, IMAGES[0]])
    by_name = {Path(p.image).name: p for p in predictions}
    assert by_name["broken.jpg"].status is Status.ERROR
    assert "broken.jpg" in by_name["broken.jpg"].message
    assert by_name[IMAGES[0].name].status is Status.OK


def test_server_failure_becomes_an_error_status(server: ReplayServer) -> None:
    from tests.replay_server import Fault

    server.queue(*[Fault(503)] * 20)
    geo = Geolocator(
        "openai",
        model="gpt-4o",
        backend_options={"base_url": server.base_url, "max_attempts": 2, "max_retry_wait": 0.01},
    )
    [p] = locate_all(geo, [IMAGES[0]])
    assert p.status is Status.ERROR
    assert "503" in p.message
    assert len(server.requests) == 2


def test_auth_error_stops_the_run(server: ReplayServer) -> None:
    from ethan import AuthenticationError
    from tests.replay_server import Fault

    server.queue(*[Fault(401)] * 20)
    with pytest.raises(AuthenticationError):
        locate_all(_geo(server, "gpt-4o"), IMAGES[:10], concurrency=2)
    assert len(server.requests) <= 3


def test_locate_many_consumes_input_lazily(server: ReplayServer) -> None:
    pulled = 0

    def gen() -> object:
        nonlocal pulled
        for path in IMAGES[:40]:
            pulled += 1
            yield path

    async def go() -> int:
        geo = _geo(server, "gpt-4o")
        seen = 0
        try:
            async for _ in geo.locate_many(gen(), concurrency=4):  # type: ignore[arg-type]
                seen += 1
                assert pulled <= seen + 4
        finally:
            await geo.aclose()
        return seen

    assert asyncio.run(go()) == 40


def test_sync_locate_reuses_one_client(server: ReplayServer) -> None:
    with _geo(server, "gpt-4o") as geo:
        first = geo.locate(IMAGES[0])
        second = geo.locate(IMAGES[1])
    assert first.ok and second.ok
    assert [Path(p.image).name for p in (first, second)] == [IMAGES[0].name, IMAGES[1].name]
    assert server.matched == [IMAGES[0].name, IMAGES[1].name]
