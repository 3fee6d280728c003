"""The ``ethan`` command as a user runs it: a real process against a local server."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ethan import Prediction, Status
from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import Fault, ReplayServer

IMAGES = STREETVIEW / "images"


def _lines(path: Path) -> list[Prediction]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [Prediction.model_validate_json(line) for line in text.splitlines()]


def test_locate_folder_writes_one_valid_line_per_image(
    server: ReplayServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    run = run_ethan(
        "locate",
        str(IMAGES),
        "--base-url",
        server.base_url,
        "--model",
        "gpt-4o",
        "--out",
        str(out),
        "--concurrency",
        "16",
    )
    assert run.returncode == 0, run.stderr
    predictions = _lines(out)
    names = sorted(Path(p.image).name for p in predictions)
    assert names == sorted(p.name for p in IMAGES.iterdir())
    assert len(server.requests) == 200
    ok = [p for p in predictions if p.status is Status.OK]
    assert len(ok) >= 190
    assert "ok" in run.stderr and "processed" in run.stderr  # the summary table

    # --resume finds everything done and sends nothing.
    again = run_ethan(
        "locate",
        str(IMAGES),
        "--base-url",
        server.base_url,
        "--model",
        "gpt-4o",
        "--out",
        str(out),
        "--resume",
    )
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == 200
    assert len(_lines(out)) == 200

    # An existing output is never clobbered by accident.
    clash = run_ethan("locate", str(IMAGES), "--base-url", server.base_url, "--out", str(out))
    assert clash.returncode == 2
    assert "--resume" in clash.stderr
    assert len(_lines(out)) == 200


def test_resume_after_a_torn_line_completes_each_image_once(
    server: ReplayServer, tmp_path: Path
) -> None:
    images = sorted(IMAGES.iterdir())[:6]
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder / image.name)
    out = tmp_path / "r.jsonl"
    first = run_ethan(
        "locate", str(folder), "--base-url", server.base_url, "--out", str(out), "--no-cache"
    )
    assert first.returncode == 0, first.stderr
    lines = out.read_text().splitlines(keepends=True)
    # Keep three whole lines and half of the fourth, as a killed run could leave it.
    out.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    resumed = run_ethan(
        "locate",
        str(folder),
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        "--resume",
        "--no-cache",
    )
    assert resumed.returncode == 0, resumed.stderr
    predictions = _lines(out)
    assert sorted(Path(p.image).name for p in predictions) == sorted(p.name for p in images)
    assert len(server.requests) == 6 + 3


def test_stdout_when_no_out(server: ReplayServer) -> None:
    image = sorted(IMAGES.iterdir())[0]
    run = run_ethan(
        "locate", str(image), "--base-url", server.base_url, "--model", "claude-3.5-sonnet"
    )
    assert run.returncode == 0, run.stderr
    [line] = run.stdout.splitlines()
    prediction = Prediction.model_validate_json(line)
    assert prediction.model == "claude-3.5-sonnet"
    assert prediction.image == str(image)


def test_nothing_processed_exits_non_zero(server: ReplayServer, tmp_path: Path) -> None:
    server.queue(*[Fault(503)] * 50)
    image = sorted(IMAGES.iterdir())[0]
    run = run_ethan(
        "locate",
        str(image),
        "--base-url",
        server.base_url,
        "-o",
        "max_attempts=2",
        "-o",
        "max_retry_wait=0.01",
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["status"] == "error"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_ethan("locate", str(empty), "--base-url", server.base_url).returncode == 1


def test_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    image = sorted(IMAGES.iterdir())[0]
    run = run_ethan("locate", str(image))
    assert run.returncode == 2
    assert "OPENAI_API_KEY" in run.stderr
    assert "Traceback" not in run.stderr


def test_api_key_never_reaches_output_or_logs(server: ReplayServer, tmp_path: Path) -> None:
    secret = "sk-test-DO-NOT-LEAK-1234567890"
    out = tmp_path / "r.jsonl"
    server.queue(Fault(429, headers={"Retry-After": "0"}), Fault(401))
    image = sorted(IMAGES.iterdir())[0]
    run = run_ethan(
        "locate",
        str(image),
        "--base-url",
        server.base_url,
        "--api-key",
        secret,
        "--out",
        str(out),
        "--verbose",
    )
    assert run.returncode == 2
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    for text in (run.stdout, run.stderr, out.read_text() if out.exists() else ""):
        assert secret not in text
    cache_dir = Path(os.environ["ETHAN_CACHE_DIR"])
    for path in cache_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_missing_path_is_reported(tmp_path: Path) -> None:
    run = run_ethan("locate", str(tmp_path / "nope"), "--base-url", "http://127.0.0.1:9/v1")
    assert run.returncode == 2
    assert "nope" in run.stderr


@pytest.mark.parametrize("name", ["gps", "cot", "multi"])
def test_prompts_show_renders_the_contract(name: str) -> None:
    run = run_ethan("prompts", "show", name)
    assert run.returncode == 0, run.stderr
    assert '"guesses"' in run.stdout and "country_code" in run.stdout


def test_prompts_list_names_the_shipped_templates() -> None:
    run = run_ethan("prompts", "list")
    assert run.returncode == 0, run.stderr
    for name in ("gps", "cot", "multi"):
        assert name in run.stdout


def test_geocoder_flags(server: ReplayServer) -> None:
    image = str(sorted(IMAGES.iterdir())[0])
    bad = run_ethan("locate", image, "--base-url", server.base_url, "--geocoder", "nosuchthing")
    assert bad.returncode == 2
    assert "nosuchthing" in bad.stderr and "Traceback" not in bad.stderr
    tuned = run_ethan(
        "locate", image, "--base-url", server.base_url,
        "-g", "broad=centroid", "-g", "min_city_population=15000", "--no-last-resort",
    )  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    assert Prediction.model_validate_json(tuned.stdout).status is Status.OK
    wrong = run_ethan("locate", image, "--base-url", server.base_url, "-g", "noequals")
    assert wrong.returncode == 2 and "KEY=VALUE" in wrong.stderr
