"""Several endpoints behind one OpenAI backend: choice, set-aside, failover, counts."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest

from ethan import Geolocator, OpenAIBackend, Prediction, Status
from ethan.backends.base import GenerateConfig, Message
from ethan.backends.endpoints import EndpointPool, endpoint_stats
from ethan.errors import BackendConnectionError, ConfigError
from ethan.summary import RunSummary
from tests.conftest import STREETVIEW, locate_all
from tests.replay_server import Fault, ReplayCorpus, ReplayServer

IMAGES = sorted((STREETVIEW / "images").iterdir())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pick_prefers_fewest_in_flight_and_goes_round_on_ties() -> None:
    pool = EndpointPool(["a", "b", "c"], lambda url: url)
    a, b, c = pool.endpoints
    a.in_flight, b.in_flight, c.in_flight = 2, 0, 1
    assert pool.pick() is b
    b.in_flight = 5
    assert pool.pick() is c
    a.in_flight = b.in_flight = c.in_flight = 0
    assert {pool.pick().url for _ in range(3)} == {"a", "b", "c"}
    assert pool.pick(avoid=["a", "b"]) is c


def test_an_endpoint_that_keeps_failing_is_set_aside_then_tried_again() -> None:
    clock = Clock()
    pool = EndpointPool(["a", "b"], lambda url: url, failures=3, cool_down=30.0, clock=clock)
    a, b = pool.endpoints
    b.in_flight = 10  # a would win on load
    pool.failed(a, server_fault=True)
    pool.failed(a, server_fault=False)  # a 4xx: the request's fault, it breaks no streak
    pool.failed(a, server_fault=True)
    assert pool.pick() is a
    pool.failed(a, server_fault=True)
    assert a.set_aside == 1 and a.errors == 4
    assert pool.pick() is b and not pool.has_other(["b"])
    clock.now += 31
    assert pool.pick() is a  # the cool-down is over: a gets requests again
    pool.failed(a, server_fault=True)  # on probation: one more fault sets it aside
    assert pool.pick() is b and a.set_aside == 2
    clock.now += 31
    pool.succeeded(a)
    pool.failed(a, server_fault=True)
    assert pool.pick() is a  # a success ended the probation


def test_all_set_aside_still_picks_the_one_back_first() -> None:
    clock = Clock()
    pool = EndpointPool(["a", "b"], lambda url: url, failures=1, cool_down=10.0, clock=clock)
    a, b = pool.endpoints
    pool.failed(b, server_fault=True)
    clock.now += 1
    pool.failed(a, server_fault=True)
    assert pool.pick() is b


def test_one_endpoint_is_never_set_aside() -> None:
    pool = EndpointPool(["a"], lambda url: url, failures=1)
    pool.failed(pool.endpoints[0], server_fault=True)
    assert pool.pick().url == "a" and pool.endpoints[0].set_aside == 0


def test_base_urls_are_checked_and_identity_ignores_order() -> None:
    one = OpenAIBackend("gpt-4o", base_url="http://127.0.0.1:1/v1/")
    assert one.base_urls == ["http://127.0.0.1:1/v1"]
    assert one.identity()["base_url"] == "http://127.0.0.1:1/v1"
    ab = OpenAIBackend("gpt-4o", base_url=["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"])
    ba = OpenAIBackend("gpt-4o", base_url=["http://127.0.0.1:2/v1", "http://127.0.0.1:1/v1/"])
    assert ab.identity() == ba.identity()
    assert ab.base_url == "http://127.0.0.1:1/v1"
    with pytest.raises(ConfigError):
        OpenAIBackend("gpt-4o", base_url=["http://127.0.0.1:1/v1", "127.0.0.1:2"])
    with pytest.raises(ConfigError):
        OpenAIBackend("gpt-4o", base_url=[])


def _ask(backend: OpenAIBackend, image: Path) -> str:
    from ethan.images import prepare_image

    part = prepare_image(image, max_side=256).part()
    messages = [Message(role="user", content=[part])]

    async def go() -> str:
        try:
            out = await backend.generate(messages, GenerateConfig())
            return out.choices[0].text
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_a_failed_request_is_retried_on_the_other_endpoint(corpus: ReplayCorpus) -> None:
    with ReplayServer(corpus) as bad, ReplayServer(corpus) as good:
        bad.queue(Fault(503))
        # a long backoff would show: the failover to the other endpoint does not wait
        backend = OpenAIBackend(
            "gpt-4o", base_url=[bad.base_url, good.base_url], max_attempts=2, max_retry_wait=30
        )
        backend._pool._turn = -1  # the first request goes to the first endpoint
        started = time.perf_counter()
        text = _ask(backend, IMAGES[0])
        assert time.perf_counter() - started < 5
        assert text == corpus.answers["gpt-4o"][IMAGES[0].name]
        assert len(bad.requests) == 1 and len(good.requests) == 1
        stats = {s.url: s for s in backend.endpoint_stats()}
        assert stats[bad.base_url].errors == 1 and stats[good.base_url].errors == 0


def test_every_endpoint_down_is_a_connection_error() -> None:
    backend = OpenAIBackend(
        "gpt-4o",
        base_url=["http://127.0.0.1:9/v1", "http://127.0.0.1:7/v1"],
        max_attempts=3,
        max_retry_wait=0.01,
    )
    with pytest.raises(BackendConnectionError):
        _ask(backend, IMAGES[0])
    assert sum(s.requests for s in backend.endpoint_stats()) == 3


def _by_image(predictions: list[Prediction]) -> dict[str, tuple[str, float | None, float | None]]:
    return {p.image: (p.status.value, p.lat, p.lon) for p in predictions}


def test_two_endpoints_share_a_run_and_one_dying_loses_no_image(
    corpus: ReplayCorpus, server: ReplayServer
) -> None:
    reference = _by_image(
        locate_all(
            Geolocator("openai", backend_options={"base_url": server.base_url}, cache=False),
            IMAGES,
        )
    )
    with ReplayServer(corpus, latency=0.02) as first, ReplayServer(corpus, latency=0.02) as second:
        stop = threading.Event()

        def killer() -> None:
            while not stop.is_set() and len(second.requests) < 30:
                time.sleep(0.005)
            second.kill()

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        geo = Geolocator(
            "openai",
            backend_options={
                "base_url": [first.base_url, second.base_url],
                "max_retry_wait": 0.05,
                "endpoint_cool_down": 60.0,
            },
            cache=False,
        )
        backend = geo.backend
        predictions = locate_all(geo, IMAGES)
        stop.set()
        thread.join()
    assert len(predictions) == len(IMAGES)
    assert [p for p in predictions if p.status is Status.ERROR] == []
    assert _by_image(predictions) == reference
    summary = RunSummary()
    for prediction in predictions:
        summary.add(prediction)
    summary.endpoints = endpoint_stats(backend)
    stats = {s.url: s for s in summary.endpoints}
    alive, dead = stats[first.base_url], stats[second.base_url]
    assert 30 <= dead.requests < len(IMAGES) and dead.errors >= 1 and dead.set_aside >= 1
    assert alive.errors == 0 and alive.in_flight == 0 == dead.in_flight
    # every image answered once; the failed attempts on the dead endpoint came on top
    assert alive.requests + dead.requests - dead.errors == len(IMAGES)
    rows = dict(summary.rows())
    assert rows[second.base_url].startswith(f"{dead.requests:,} requests, {dead.errors:,} errors")


def test_a_busy_endpoint_opens_more_lanes_and_reuses_them() -> None:
    made: list[str] = []

    def client(url: str) -> str:
        made.append(url)
        return f"{url}#{len(made)}"

    pool = EndpointPool(["a"], client, lane_size=2)
    endpoint = pool.endpoints[0]
    with contextlib.ExitStack() as stack:
        used = [stack.enter_context(pool.sending(endpoint)) for _ in range(5)]
        assert used == ["a#1", "a#1", "a#2", "a#2", "a#3"]
        assert endpoint.in_flight == 5 and endpoint.lane_load == [2, 2, 1]
    assert endpoint.in_flight == 0 and endpoint.lane_load == [0, 0, 0]
    with pool.sending(endpoint) as again:
        assert again == "a#1" and len(made) == 3  # no new client once the lanes exist
    assert pool.clients() == ["a#1", "a#2", "a#3"] and endpoint.requests == 6


def test_many_in_flight_spread_over_lanes_of_one_server(corpus: ReplayCorpus) -> None:
    with ReplayServer(corpus, latency=0.05) as slow:
        geo = Geolocator("openai", backend_options={"base_url": slow.base_url}, cache=False)
        backend = geo.backend
        assert isinstance(backend, OpenAIBackend)
        predictions = locate_all(geo, IMAGES[:48], concurrency=48)
    assert len(predictions) == 48 and not [p for p in predictions if p.status is Status.ERROR]
    lanes = backend._pool.endpoints[0].lanes
    assert len(lanes) >= 2
    assert all(client.is_closed() for client in lanes)  # aclose closed every lane
