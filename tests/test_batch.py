"""The Batch API engine against a local Files + Batches server, driven by the official SDK."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from ethan import Geolocator, Prediction, ResponseCache, Status
from ethan.batch import BatchLimits, BatchProgress, BatchState, BatchSummary, locate_batch
from ethan.batch.progress import BatchDisplay
from ethan.batch.state import state_path_for
from ethan.budget import PRICES_PER_MTOK, Budget, BudgetExceededError, batch_prices, usage_cost
from ethan.errors import ConfigError
from ethan.results import PredictionWriter, read_predictions
from tests.batch_client import spawn, wait_until
from tests.batch_server import BatchServer
from tests.conftest import STREETVIEW, locate_all
from tests.replay_server import Fault, ReplayCorpus, ReplayServer

IMAGES = sorted((STREETVIEW / "images").glob("*.jpg"), key=lambda p: int(p.stem))
MODEL = "gpt-4o-mini"


@pytest.fixture
def batch_server(corpus: ReplayCorpus) -> Iterator[BatchServer]:
    with BatchServer(corpus) as running:
        yield running


def _geo(
    server: ReplayServer, cache: Path, api_key: str | None = None, **settings: object
) -> Geolocator:
    return Geolocator(
        "openai",
        model=MODEL,
        backend_options={"base_url": server.base_url, "max_retry_wait": 0.01, "api_key": api_key},
        cache=ResponseCache(cache),
        **settings,  # type: ignore[arg-type]
    )


def _run_batch(
    geo: Geolocator,
    images: list[Path],
    out: Path,
    *,
    resume: bool = False,
    limits: BatchLimits | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    state: Path | None = None,
) -> tuple[BatchSummary, list[Prediction]]:
    async def go() -> BatchSummary:
        with PredictionWriter(out, resume=resume) as writer:
            todo = [p for p in images if str(p) not in writer.done]
            try:
                return await locate_batch(
                    geo,
                    todo,
                    writer.write,
                    state_path=state or state_path_for(out),
                    resume=resume,
                    poll_interval=0.0,
                    limits=limits,
                    on_progress=on_progress,
                )
            finally:
                await geo.aclose()

    summary = asyncio.run(go())
    return summary, list(read_predictions(out))


def _outcomes(
    predictions: list[Prediction],
) -> dict[str, tuple[Status, float | None, float | None]]:
    return {p.image: (p.status, p.lat, p.lon) for p in predictions}


def test_200_images_give_the_same_predictions_as_live_calls_in_several_files(
    batch_server: BatchServer, server: ReplayServer, tmp_path: Path
) -> None:
    live = locate_all(_geo(server, tmp_path / "live.sqlite"), IMAGES)
    seen: list[BatchProgress] = []
    out = tmp_path / "out.jsonl"
    limits = BatchLimits(max_requests=60)
    secret = "sk-test-0123456789abcdef"
    summary, batch = _run_batch(
        _geo(batch_server, tmp_path / "batch.sqlite", api_key=secret),
        IMAGES,
        out,
        limits=limits,
        on_progress=seen.append,
    )
    assert len(batch) == 200 and len({p.image for p in batch}) == 200
    assert _outcomes(batch) == _outcomes(live)
    assert {p.image: p.raw for p in batch} == {p.image: p.raw for p in live}
    assert sum(p.status is Status.OK for p in batch) > 150
    # 200 requests at 60 a file: four files, four batches, each through every state
    assert len(batch_server.uploads) == 4 and len(batch_server.creations) == 4
    assert summary.uploads == 4 and summary.created == 4 and summary.predictions == 200
    lines = [
        json.loads(line)
        for file_id in batch_server.uploads
        for line in batch_server.files[file_id].data.decode().splitlines()
    ]
    assert len(lines) == 200 and len({line["custom_id"] for line in lines}) == 200
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert all("n" not in line["body"] and line["body"]["model"] == MODEL for line in lines)
    statuses = {b.status for snapshot in seen for b in snapshot.batches}
    assert {"validating", "in_progress", "finalizing", "completed"} <= statuses
    assert seen[-1].phase == "done" and seen[-1].done == 200
    assert summary.usage.total_tokens == sum(p.usage.total_tokens for p in batch) > 0
    live_in, live_out = PRICES_PER_MTOK[MODEL]
    assert batch_prices(MODEL) == (live_in / 2, live_out / 2)
    assert summary.cost == pytest.approx(usage_cost(summary.usage, batch_prices(MODEL)))
    state = BatchState.load(state_path_for(out))
    assert state.finished and len(state.requests) == 200
    for saved in (state_path_for(out), out, tmp_path / "batch.sqlite"):
        assert secret not in saved.read_text(errors="replace")


def test_a_second_run_is_answered_from_the_cache_without_a_batch(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:10]
    _, first = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "a.jsonl")
    _, second = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "b.jsonl")
    assert len(batch_server.uploads) == 1
    assert all(p.cached for p in second)
    assert _outcomes(first) == _outcomes(second)


def test_samples_are_one_line_each_and_combine_into_one_prediction(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:5]
    _, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite", samples=3, seed=7), images, tmp_path / "o.jsonl"
    )
    lines = batch_server.files[batch_server.uploads[0]].data.decode().splitlines()
    assert len(lines) == 15
    bodies = [json.loads(line)["body"] for line in lines]
    assert sorted(b["seed"] for b in bodies) == sorted([7, 8, 9] * 5)
    assert all(len(p.raw) == 3 for p in batch)


def test_failed_requests_are_retried_once_then_reported_per_image(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:12]
    batch_server.fail_images = {images[1].name: 1, images[4].name: 2}
    summary, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "o.jsonl"
    )
    by_image = {Path(p.image).name: p for p in batch}
    assert len(batch) == 12
    assert by_image[images[1].name].status is not Status.ERROR  # failed once, retried: ok
    failed = by_image[images[4].name]
    assert failed.status is Status.ERROR and failed.lat is None
    assert "HTTP 500" in failed.message and "server had an error" in failed.message
    assert failed.image_sha256 is not None
    assert len(batch_server.creations) == 2 and summary.retried == 2
    retry = batch_server.files[batch_server.uploads[1]].data.decode().splitlines()
    assert len(retry) == 2


def test_an_expired_batch_retries_what_did_not_run(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:10]
    batch_server.expire_batches = 1
    batch_server.expire_after = 6
    summary, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "o.jsonl"
    )
    states = [batch_server.batches[b].body["status"] for b in batch_server.creations]
    assert states == ["expired", "completed"]
    assert len(batch) == 10 and not any(p.status is Status.ERROR for p in batch)
    assert summary.retried == 4


def test_an_expired_retry_ends_as_errors_with_the_apis_message(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:6]
    batch_server.expire_batches = 2
    batch_server.expire_after = 3
    _, batch = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "o.jsonl")
    errors = [p for p in batch if p.status is Status.ERROR]
    # 3 ran in the first batch, 3 were retried; of those, the second batch ran all 3 (limit 3)
    assert len(batch) == 6 and errors == []
    batch_server.expire_batches = 2
    batch_server.expire_after = 0
    _, again = _run_batch(_geo(batch_server, tmp_path / "d.sqlite"), images, tmp_path / "p.jsonl")
    assert len(again) == 6 and all(p.status is Status.ERROR for p in again)
    assert all("batch_expired" in p.message and "completion window" in p.message for p in again)


def test_a_cancelled_batch_retries_then_completes(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:10]
    batch_server.cancel_batches = 1
    summary, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "o.jsonl"
    )
    states = [batch_server.batches[b].body["status"] for b in batch_server.creations]
    assert states == ["cancelled", "completed"]
    assert summary.retried == 5
    assert len(batch) == 10 and not any(p.status is Status.ERROR for p in batch)


def test_budget_uses_batch_prices(batch_server: BatchServer, tmp_path: Path) -> None:
    budget = Budget()
    geo = Geolocator(
        "openai",
        model=MODEL,
        backend_options={"base_url": batch_server.base_url},
        cache=ResponseCache(tmp_path / "c.sqlite"),
        budget=budget,
    )
    summary, _ = _run_batch(geo, IMAGES[:4], tmp_path / "o.jsonl")
    usage = summary.usage
    live = Budget().prices(MODEL)
    assert live is not None and budget.batch
    expected = (usage.prompt_tokens * live[0] + usage.completion_tokens * live[1]) / 2e6
    assert summary.cost == pytest.approx(expected) and expected > 0
    assert budget.usage == usage and budget.requests == 4


def test_killed_while_polling_resumes_the_same_batches_uploading_nothing(
    batch_server: BatchServer, server: ReplayServer, tmp_path: Path
) -> None:
    images = IMAGES[:40]
    out = tmp_path / "o.jsonl"
    batch_server.hold.set()  # every batch stays in_progress until released
    args = [batch_server.base_url, str(out), str(tmp_path / "c.sqlite"), "15"]
    client = spawn(args, images, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: batch_server.retrievals >= 6 or client.poll() is not None, "polling")
        assert client.poll() is None, client.stderr.read() if client.stderr else ""
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == -signal.SIGKILL
    state = BatchState.load(state_path_for(out))
    assert not state.finished
    assert [p.batch_id for p in state.parts] == batch_server.creations  # saved before polling
    assert len(state.requests) == 40
    uploads, creations = list(batch_server.uploads), list(batch_server.creations)
    assert len(uploads) == 3 and len(creations) == 3
    assert list(read_predictions(out)) == []

    with pytest.raises(ConfigError, match="has not finished"):
        _run_batch(
            _geo(batch_server, tmp_path / "c.sqlite"),
            images,
            tmp_path / "o2.jsonl",
            state=state_path_for(out),
        )
    # as if the kill had come after the last upload and batch creation but before the save:
    # the resumed run finds both (by file name and batch metadata) instead of redoing them
    last = state.parts[-1]
    last.file_id = last.batch_id = None
    last.status = "written"
    state.save(state_path_for(out))
    batch_server.hold.clear()
    summary, batch = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, out, resume=True)
    assert batch_server.uploads == uploads and batch_server.creations == creations
    assert summary.uploads == 0 and summary.created == 0
    assert sorted(p.image for p in batch) == sorted(str(p) for p in images)
    live = locate_all(_geo(server, tmp_path / "live.sqlite"), images)
    assert _outcomes(batch) == _outcomes(live)


def test_a_spent_budget_stops_new_requests_and_resume_sends_only_the_rest(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:10]
    out = tmp_path / "o.jsonl"

    def geo(limit: int) -> Geolocator:
        return Geolocator(
            "openai",
            model=MODEL,
            backend_options={"base_url": batch_server.base_url},
            cache=ResponseCache(tmp_path / "c.sqlite"),
            budget=Budget(max_requests=limit),
        )

    with pytest.raises(BudgetExceededError):
        _run_batch(geo(4), images, out)
    assert len(list(read_predictions(out))) == 4
    lines = batch_server.files[batch_server.uploads[0]].data.decode().splitlines()
    assert len(lines) == 4
    summary, batch = _run_batch(geo(100), images, out, resume=True)
    assert len(batch) == 10 and len({p.image for p in batch}) == 10
    assert summary.uploads == 1 and summary.predictions == 6
    assert len(batch_server.files[batch_server.uploads[1]].data.decode().splitlines()) == 6


def test_a_batch_failed_in_validation_is_retried_then_reported_with_its_error(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:4]
    batch_server.reject_batches = 1
    _, batch = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "a.jsonl")
    states = [batch_server.batches[b].body["status"] for b in batch_server.creations]
    assert states == ["failed", "completed"]
    assert len(batch) == 4 and not any(p.status is Status.ERROR for p in batch)

    batch_server.reject_batches = 2
    _, again = _run_batch(_geo(batch_server, tmp_path / "d.sqlite"), images, tmp_path / "b.jsonl")
    assert len(again) == 4 and all(p.status is Status.ERROR for p in again)
    assert all("Enqueued token limit reached" in p.message for p in again)
    assert all("after 2 attempts" in p.message for p in again)


def test_one_failed_sample_is_retried_alone_and_joins_the_others(
    batch_server: BatchServer, server: ReplayServer, tmp_path: Path
) -> None:
    images = IMAGES[:4]
    batch_server.fail_images = {images[2].name: 1}  # the first of its two sample lines fails
    _, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite", samples=2), images, tmp_path / "o.jsonl"
    )
    retry = batch_server.files[batch_server.uploads[1]].data.decode().splitlines()
    assert len(retry) == 1
    live = locate_all(_geo(server, tmp_path / "live.sqlite", samples=2), images)
    assert _outcomes(batch) == _outcomes(live)
    assert {p.image: p.raw for p in batch} == {p.image: p.raw for p in live}
    state = BatchState.load(state_path_for(tmp_path / "o.jsonl"))
    assert state.partial == {} and state.counts()["done"] == 8


def test_killed_during_an_upload_resumes_without_uploading_anything_twice(
    batch_server: BatchServer, server: ReplayServer, tmp_path: Path
) -> None:
    images = IMAGES[:30]
    out = tmp_path / "o.jsonl"
    batch_server.upload_latency = 1.0
    args = [batch_server.base_url, str(out), str(tmp_path / "c.sqlite"), "10"]
    client = spawn(args, images, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: batch_server.uploads_started == 2, "the second upload")
        client.send_signal(signal.SIGKILL)  # while the server takes the second file
        client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    wait_until(lambda: len(batch_server.uploads) == 2, "the server to keep the second file")
    state = BatchState.load(state_path_for(out))
    assert [p.file_id is not None for p in state.parts] == [True, False]
    batch_server.upload_latency = 0.0
    summary, batch = _run_batch(_geo(batch_server, tmp_path / "c.sqlite"), images, out, resume=True)
    assert summary.uploads == 1  # only the third file; the second was found by its name
    assert len(batch_server.uploads) == 3 and len(batch_server.creations) == 3
    sent = [
        json.loads(line)["custom_id"]
        for file_id in batch_server.uploads
        for line in batch_server.files[file_id].data.decode().splitlines()
    ]
    assert len(sent) == 30 and len(set(sent)) == 30
    assert sorted(p.image for p in batch) == sorted(str(p) for p in images)
    live = locate_all(_geo(server, tmp_path / "live.sqlite"), images)
    assert _outcomes(batch) == _outcomes(live)


def test_files_are_split_at_the_byte_limit_and_an_oversized_request_fails_alone(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:8]
    limit = 400_000
    _, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite"),
        images,
        tmp_path / "a.jsonl",
        limits=BatchLimits(max_bytes=limit),
    )
    sizes = [len(batch_server.files[f].data) for f in batch_server.uploads]
    assert len(sizes) > 1 and max(sizes) <= limit
    assert len(batch) == 8 and not any(p.status is Status.ERROR for p in batch)

    _, tiny = _run_batch(
        _geo(batch_server, tmp_path / "d.sqlite"),
        images[:2],
        tmp_path / "b.jsonl",
        limits=BatchLimits(max_bytes=1000),
    )
    assert len(tiny) == 2 and all(p.status is Status.ERROR for p in tiny)
    assert all("larger than a batch file may be" in p.message for p in tiny)
    assert len(batch_server.uploads) == len(sizes)  # nothing sent for them


def test_the_batch_api_needs_the_openai_backend(tmp_path: Path) -> None:
    geo = Geolocator(
        "replay", backend_options={"responses": STREETVIEW / "responses" / "gpt-4o.csv"}
    )
    with pytest.raises(ConfigError, match="needs the openai backend"):
        _run_batch(geo, IMAGES[:1], tmp_path / "o.jsonl")


def test_an_outage_while_polling_costs_polls_not_the_run(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    images = IMAGES[:3]
    queued: list[bool] = []

    def outage(snapshot: BatchProgress) -> None:
        if snapshot.phase == "submitting" and not queued:
            queued.append(True)  # more 503s than one poll's retries (5 attempts)
            batch_server.queue(*[Fault(503)] * 7, Fault(500), Fault(502))

    _, batch = _run_batch(
        _geo(batch_server, tmp_path / "c.sqlite"), images, tmp_path / "o.jsonl", on_progress=outage
    )
    assert queued and not batch_server.faults
    assert len(batch) == 3 and not any(p.status is Status.ERROR for p in batch)


def test_the_display_shows_every_batch_with_its_state_and_counts(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    console = Console(record=True, width=120, force_terminal=False)
    with BatchDisplay(console) as display:
        _run_batch(
            _geo(batch_server, tmp_path / "c.sqlite"),
            IMAGES[:6],
            tmp_path / "o.jsonl",
            limits=BatchLimits(max_requests=4),
            on_progress=display.update,
        )
    assert display.last is not None and display.last.phase == "done"
    text = console.export_text()
    rendered = Console(record=True, width=120)
    rendered.print(display.render(display.last))
    final = rendered.export_text()
    for batch_id in batch_server.creations:
        assert batch_id in final
    assert final.count("completed") >= 2 and "6/6" in final
    assert "part-0002.jsonl" in final and text
