"""``ethan batch list|status|cancel`` as a user runs them, while a batch run is in flight."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ethan import Status
from ethan.batch import BatchState, state_path_for
from ethan.results import read_predictions
from tests.batch_client import spawn, wait_until
from tests.batch_server import BatchServer
from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import ReplayCorpus

IMAGES = sorted((STREETVIEW / "images").glob("*.jpg"), key=lambda p: int(p.stem))[:10]


@pytest.fixture
def batch_server(corpus: ReplayCorpus) -> Iterator[BatchServer]:
    with BatchServer(corpus) as running:
        yield running


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_list_status_and_cancel_a_run_in_flight(batch_server: BatchServer, tmp_path: Path) -> None:
    out = tmp_path / "predictions.jsonl"  # as in an eval run folder
    batch_server.hold.set()
    args = [batch_server.base_url, str(out), str(tmp_path / "c.sqlite"), "5"]
    client = spawn(args, IMAGES, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: len(batch_server.creations) == 2, "two batches")
        first, second = batch_server.creations
        wait_until(lambda: state_path_for(out).exists(), "the state file")

        listed = run_ethan("batch", "list", "--out", str(out), "--json")
        assert listed.returncode == 0, listed.stderr
        rows = _json_lines(listed.stdout)
        assert [r["id"] for r in rows] == [first, second]
        assert {r["status"] for r in rows} <= {"validating", "in_progress"}
        assert [r["total"] for r in rows] == [5, 5]

        offline = run_ethan("batch", "list", "--state", str(state_path_for(out)), "--offline")
        assert offline.returncode == 0 and first in offline.stdout and "10 images" in offline.stdout
        folder = run_ethan("batch", "list", "--out", str(tmp_path), "--offline", "--json")
        assert [r["id"] for r in _json_lines(folder.stdout)] == [first, second]

        account = run_ethan(
            "batch", "list", "--account", "--base-url", batch_server.base_url, "--json"
        )
        assert {r["id"] for r in _json_lines(account.stdout)} == {first, second}

        shown = run_ethan("batch", "status", first, "--out", str(out), "--json")
        assert shown.returncode == 0, shown.stderr
        assert _json_lines(shown.stdout)[0]["status"] == "in_progress"

        missing = run_ethan("batch", "status", "batch-nope", "--out", str(out))
        assert missing.returncode == 2 and "404" in missing.stderr

        refused = run_ethan("batch", "cancel", "--out", str(out))
        assert refused.returncode == 2 and "--all" in refused.stderr

        cancelled = run_ethan("batch", "cancel", "--out", str(out), "--all", "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert {r["status"] for r in _json_lines(cancelled.stdout)} == {"cancelling"}
        assert batch_server.cancels == [first, second]

        # the run sees them cancelled, keeps what finished and retries the rest once
        batch_server.hold.clear()
        assert client.wait(timeout=120) == 0, client.stderr.read() if client.stderr else ""
    finally:
        if client.poll() is None:
            client.kill()
    predictions = list(read_predictions(out))
    assert len(predictions) == 10
    assert not any(p.status is Status.ERROR for p in predictions)
    states = [batch_server.batches[b].body["status"] for b in batch_server.creations]
    assert states == ["cancelled", "cancelled", "completed", "completed"]
    assert BatchState.load(state_path_for(out)).finished


def test_list_needs_a_run_or_the_account(tmp_path: Path) -> None:
    run = run_ethan("batch", "list")
    assert run.returncode == 2 and "--account" in run.stderr
    run = run_ethan("batch", "list", "--out", str(tmp_path / "none.jsonl"))
    assert run.returncode == 1 and "no batch state" in run.stderr


def test_locate_and_eval_through_the_batch_engine_flag(
    corpus: ReplayCorpus, tmp_path: Path
) -> None:
    """``--engine batch`` on the real command: the same lines as a live run; a second run
    with --resume uploads nothing; eval through the Batch API scores like the live one."""
    images = sorted((STREETVIEW / "images").glob("*.jpg"))[:20]
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images:
        (folder / image.name).write_bytes(image.read_bytes())
    with BatchServer(corpus) as server:
        common = ["--base-url", server.base_url, "--model", "gpt-4o-mini", "--no-cache"]
        out = tmp_path / "batch.jsonl"
        run = run_ethan(
            "locate", str(folder), *common, "--engine", "batch", "--poll-interval", "0",
            "--out", str(out),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        uploads = len(server.uploads)
        assert uploads >= 1
        live = tmp_path / "live.jsonl"
        assert run_ethan("locate", str(folder), *common, "--out", str(live)).returncode == 0

        def outcomes(path: Path) -> dict[str, tuple[object, ...]]:
            rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
            return {r["image"]: (r["status"], r["lat"], r["lon"]) for r in rows}

        assert outcomes(out) == outcomes(live) and len(outcomes(out)) == 20
        again = run_ethan(
            "locate", str(folder), *common, "--engine", "batch", "--poll-interval", "0",
            "--out", str(out), "--resume",
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert len(server.uploads) == uploads  # nothing new to send
        assert "engine: batch" in (tmp_path / "batch.jsonl.run.yaml").read_text(encoding="utf-8")
        run_dir = tmp_path / "run"
        evaluated = run_ethan(
            "eval", str(STREETVIEW / "truth.csv"), "--images-root", str(STREETVIEW / "images"),
            "--limit", "20", *common, "--engine", "batch", "--poll-interval", "0",
            "--out", str(run_dir), "--bootstrap", "20",
        )  # fmt: skip
        assert evaluated.returncode == 0, evaluated.stderr
        assert (run_dir / "predictions.jsonl.batch.json").is_file()
        assert json.loads((run_dir / "metrics.json").read_text())["n"] == 20
