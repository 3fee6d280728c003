"""The engines and endpoints as the command line reaches them: repeated --base-url, the Ray
engine in a local Ray instance, image workers — each the same predictions as the plain run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import ReplayCorpus, ReplayServer

IMAGES = sorted((STREETVIEW / "images").glob("*.jpg"))[:24]


def _outcomes(path: Path) -> dict[str, tuple[object, ...]]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    return {r["image"]: (r["status"], r["lat"], r["lon"]) for r in rows}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    for image in IMAGES:
        (photos / image.name).write_bytes(image.read_bytes())
    return photos


def test_two_base_urls_share_a_run(corpus: ReplayCorpus, folder: Path, tmp_path: Path) -> None:
    with ReplayServer(corpus) as one, ReplayServer(corpus) as two:
        out = tmp_path / "two.jsonl"
        run = run_ethan(
            "locate", str(folder), "--model", "gpt-4o", "--base-url", one.base_url,
            "--base-url", two.base_url, "--out", str(out), "--no-cache", "--concurrency", "8",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert one.requests and two.requests
        assert len(one.requests) + len(two.requests) == len(IMAGES)
        summary = " ".join(run.stderr.split())
        assert one.base_url in summary and two.base_url in summary  # requests per endpoint
        single = tmp_path / "one.jsonl"
        alone = run_ethan(
            "locate", str(folder), "--model", "gpt-4o", "--base-url", one.base_url,
            "--out", str(single), "--no-cache", "--workers", "2",
        )  # fmt: skip
        assert alone.returncode == 0, alone.stderr
    assert _outcomes(out) == _outcomes(single)
    spec = (tmp_path / "two.jsonl.run.yaml").read_text(encoding="utf-8")
    assert one.base_url in spec and two.base_url in spec


def test_the_ray_engine_from_the_command_line(
    server: ReplayServer, folder: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    common = ["--model", "gpt-4o-mini", "--base-url", server.base_url, "--no-cache"]
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert run_ethan("locate", str(folder), *common, "--out", str(local)).returncode == 0
    run = run_ethan(
        "locate", str(folder), *common, "--engine", "ray", "--actors", "2",
        "--out", str(on_ray), timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _outcomes(on_ray) == _outcomes(local) and len(_outcomes(local)) == len(IMAGES)
