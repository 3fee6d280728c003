"""Faults from the model server, injected by a real local server: each one ends as a bounded
retry or a recorded status with a clear message, and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ethan import Geolocator, Prediction, Status
from ethan.budget import Budget, BudgetExceededError
from tests.conftest import STREETVIEW, locate_all, run_ethan
from tests.replay_server import Fault, ReplayServer

IMAGES = sorted((STREETVIEW / "images").iterdir())


def completion(text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _geo(server: ReplayServer, **settings: Any) -> Geolocator:
    options = {"base_url": server.base_url, "max_attempts": 3, "max_retry_wait": 0.01}
    return Geolocator("openai", model="gpt-4o", backend_options=options, cache=False, **settings)


RETRIED = {
    "429 without Retry-After": Fault(429),
    "429 with Retry-After": Fault(429, headers={"Retry-After": "0"}),
    "500": Fault(500),
    "502": Fault(502),
    "503": Fault(503),
    "reset mid-body": Fault(200, json.dumps(completion("x")).encode(), cut_after=25),
    "invalid JSON body": Fault(200, b"<html>502 Bad Gateway</html>"),
    "empty choices": Fault(200, {**completion("x"), "choices": []}),
}


@pytest.mark.parametrize("name", list(RETRIED))
def test_transient_faults_are_retried_then_succeed(server: ReplayServer, name: str) -> None:
    server.queue(RETRIED[name], RETRIED[name])
    [p] = locate_all(_geo(server), IMAGES[:1], concurrency=1)
    assert p.status is Status.OK, p.message
    assert len(server.requests) == 3


@pytest.mark.parametrize("name", list(RETRIED))
def test_persistent_faults_end_as_error_and_the_run_goes_on(
    server: ReplayServer, name: str
) -> None:
    server.queue(*[RETRIED[name]] * 3)
    first, second = locate_all(_geo(server), IMAGES[:2], concurrency=1)
    assert first.status is Status.ERROR
    assert first.message and first.lat is None
    assert second.status is Status.OK
    assert len(server.requests) == 4  # a bounded budget of 3 tries, then the next image


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (completion("First, the road markings are white and the", "length"),
         Status.UNPARSED, "cut off"),
        (completion("", "content_filter"), Status.REFUSED, "content filter"),
        (completion("I'm sorry, I can't help identify where this photo was taken."),
         Status.REFUSED, "refused"),
        (completion('Best guess: {"lat": -33.87, "lon": 151.21, "city": "Syd', "length"),
         Status.OK, "cut off"),
    ],
)  # fmt: skip
def test_truncation_filter_and_refusal_are_statuses(
    server: ReplayServer, body: dict[str, Any], status: Status, words: str
) -> None:
    server.queue(Fault(200, body))
    [p] = locate_all(_geo(server), IMAGES[:1], concurrency=1)
    assert p.status is status
    assert words in p.message
    assert len(server.requests) == 1
    if status is not Status.OK:
        assert (p.lat, p.lon) == (None, None)


def test_a_mixed_batch_finishes_and_counts_every_kind(server: ReplayServer, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in IMAGES[:12]:
        (folder / image.name).write_bytes(image.read_bytes())
    server.queue(
        Fault(200, completion("", "content_filter")),
        *[Fault(503)] * 2,
        Fault(200, completion("Hmm, let me look at the", "length")),
    )
    out = tmp_path / "r.jsonl"
    run = run_ethan(
        "locate", str(folder), "--base-url", server.base_url, "--out", str(out),
        "--concurrency", "1", "-o", "max_attempts=2", "-o", "max_retry_wait=0.01",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [Prediction.model_validate_json(x) for x in out.read_text().splitlines()]
    assert len(lines) == 12 == len({p.image for p in lines})
    statuses = sorted(p.status.value for p in lines)
    assert statuses.count("refused") >= 1 and statuses.count("error") == 1
    assert statuses.count("unparsed") >= 1
    for reason in (
        "refused: answer blocked by the content filter",
        "error: HTTP 503 from the model server",
        "unparsed: answer cut off",
    ):
        assert reason in run.stderr  # fmt: skip


def test_request_budget_stops_cleanly_and_resumes(server: ReplayServer, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in IMAGES[:10]:
        (folder / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "r.jsonl"
    args = ["locate", str(folder), "--base-url", server.base_url, "--out", str(out),
            "--concurrency", "3", "--no-cache"]  # fmt: skip
    stopped = run_ethan(*args, "--max-requests", "4")
    assert stopped.returncode == 3, stopped.stderr
    assert "budget reached" in stopped.stderr and "--resume" in stopped.stderr
    assert len(server.requests) == 4
    saved = out.read_text().splitlines()
    assert len(saved) == 4
    resumed = run_ethan(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    lines = [Prediction.model_validate_json(x) for x in out.read_text().splitlines()]
    assert sorted(Path(p.image).name for p in lines) == sorted(p.name for p in IMAGES[:10])
    assert len(server.requests) == 10


def test_cost_budget_uses_token_prices(server: ReplayServer) -> None:
    # Each replayed request costs ~1,000 prompt tokens: at $1,000/M that is ~$1 a request.
    budget = Budget(max_cost=2.5, price_in=1000.0, price_out=1000.0)
    geo = _geo(server, budget=budget)
    with pytest.raises(BudgetExceededError, match="budget reached"):
        locate_all(geo, IMAGES[:20], concurrency=1)
    assert 2 <= len(server.requests) <= 3
    assert budget.cost("gpt-4o") is not None and budget.cost("gpt-4o") >= 2.5  # type: ignore[operator]


def test_cost_budget_without_prices_fails_early(server: ReplayServer) -> None:
    from ethan import ConfigError

    geo_options = {"base_url": server.base_url}
    with pytest.raises(ConfigError, match="--price-in"):
        Geolocator("openai", model="my-local-model", backend_options=geo_options,
                   budget=Budget(max_cost=1.0))  # fmt: skip


def test_api_key_is_blanked_from_errors(server: ReplayServer) -> None:
    secret = "sk-live-abcdefghijklmnop1234"
    echo = {"error": {"message": f"Incorrect API key provided: {secret}", "type": "auth"}}
    server.queue(Fault(400, echo))
    geo = Geolocator(
        "openai", model="gpt-4o", cache=False,
        backend_options={"base_url": server.base_url, "api_key": secret},
    )  # fmt: skip
    [p] = locate_all(geo, IMAGES[:1], concurrency=1)
    assert p.status is Status.ERROR
    assert "Incorrect API key" in p.message and secret not in p.message
    assert secret not in p.to_json_line()
