"""The first five minutes through the real ``ethan`` command: no key and no server means the
embedded local model (offline: exit 2 naming its files; pointed at local files: a real
llama.cpp run), cards on a terminal, JSON when piped or with --json, and --map."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from ethan.backends.llama_presets import PRESETS
from ethan.defaults import DEFAULT_PRESET
from tests.conftest import STREETVIEW, run_ethan
from tests.pty_run import run_in_pty
from tests.tiny_mmproj import build_tiny_mmproj, gemma_270m

PHOTO = sorted((STREETVIEW / "images").glob("*.jpg"))[0]
RESPONSES = STREETVIEW / "responses" / "gpt-4o.csv"


def _ethan() -> list[str]:
    exe = shutil.which("ethan", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ethan"]


def test_no_key_offline_exits_2_naming_the_default_model_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run = run_ethan("locate", str(PHOTO))
    assert run.returncode == 2, run.stderr
    said = " ".join(run.stderr.split())
    preset = PRESETS[DEFAULT_PRESET]
    for needed in (preset.model_file, preset.mmproj_file, preset.repo, "--base-url"):
        assert needed in said, needed
    assert "OPENAI_API_KEY" in said and "[local]" in said
    assert run.stdout == ""


def test_pointed_at_local_files_the_default_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    projector = build_tiny_mmproj(tmp_path / "tiny-mmproj.gguf")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ETHAN_DEFAULT_MODEL", str(gemma_270m()))
    monkeypatch.setenv("ETHAN_DEFAULT_MMPROJ", str(projector))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "r.jsonl"
    run = run_ethan(
        "locate", str(PHOTO), "--out", str(out), "--max-tokens", "200", "--max-side", "256",
        "--n-ctx", "2048", "--no-cache", timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "using the local model gemma-3-270m" in " ".join(run.stderr.split())
    (line,) = out.read_text(encoding="utf-8").splitlines()
    row = json.loads(line)
    assert row["image"] == str(PHOTO) and row["status"] in ("ok", "unparsed")
    assert row["usage"]["prompt_tokens"] > 300
    # the saved specification names the model that ran, so a replay does not depend on
    # what the environment happens to hold
    saved = (tmp_path / "r.jsonl.run.yaml").read_text(encoding="utf-8")
    assert "name: llama-cpp" in saved and str(projector) in saved


def test_cards_on_a_terminal_and_json_when_piped_or_asked(tmp_path: Path) -> None:
    args = ["locate", str(PHOTO), "--backend", "replay", "--responses", str(RESPONSES)]
    env = {**os.environ, "COLUMNS": "120"}
    screen = run_in_pty([*_ethan(), *args], env=env, columns=120)
    assert screen.returncode == 0, screen.text
    text = screen.text
    assert "openstreetmap.org/?mlat=" in text and PHOTO.name in text
    assert "where" in text and "how sure" in text
    assert '"status"' not in text  # no JSON on the terminal
    as_json = run_in_pty([*_ethan(), *args, "--json"], env=env, columns=120)
    assert '"status":"ok"' in as_json.text
    piped = run_ethan(*args)
    assert piped.returncode == 0, piped.stderr
    (line,) = piped.stdout.splitlines()
    assert json.loads(line)["status"] == "ok"


def test_map_draws_every_answer(tmp_path: Path) -> None:
    pytest.importorskip("folium")
    images = sorted((STREETVIEW / "images").glob("*.jpg"))[:5]
    out, page = tmp_path / "r.jsonl", tmp_path / "map.html"
    run = run_ethan(
        "locate", *map(str, images), "--backend", "replay", "--responses", str(RESPONSES),
        "--out", str(out), "--map", str(page),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    html = page.read_text(encoding="utf-8")
    for row in map(json.loads, out.read_text(encoding="utf-8").splitlines()):
        if row["status"] == "ok":
            assert f"{row['lat']:.5f}"[:6] in html
    assert "map:" in run.stderr


def test_eval_draws_the_answers_map_too(tmp_path: Path) -> None:
    pytest.importorskip("folium")
    page = tmp_path / "answers.html"
    run = run_ethan(
        "eval", str(STREETVIEW / "truth.csv"), "--images-root", str(STREETVIEW / "images"),
        "--backend", "replay", "--responses", str(RESPONSES), "--limit", "5",
        "--bootstrap", "10", "--out", str(tmp_path / "run"), "--map", str(page),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines]
    html = page.read_text(encoding="utf-8")
    assert all(f"{r['lat']:.5f}"[:6] in html for r in rows if r["status"] == "ok")


def test_a_hosted_model_without_a_key_says_the_key_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    run = run_ethan("locate", str(PHOTO), "--model", "gpt-4o")
    assert run.returncode == 2
    assert "no OpenAI API key" in " ".join(run.stderr.split())
