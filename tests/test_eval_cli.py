"""``ethan eval`` and ``ethan compare`` on the real corpus, replayed and over real HTTP."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODELS, STREETVIEW, run_ethan
from tests.replay_server import ReplayServer

TRUTH = STREETVIEW / "truth.csv"
IMAGES = STREETVIEW / "images"
METRIC_KEYS = ("n", "answered", "refused", "unparsed", "errors", "acc_km", "median_km",
               "mean_km", "geoscore_mean", "country_acc", "continent_acc")  # fmt: skip


def _metrics(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return data


def _replay(model: str, out: Path, *extra: str) -> dict[str, Any]:
    run = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES), "--backend", "replay",
        "--responses", str(STREETVIEW / "responses" / f"{model}.csv"), "--out", str(out),
        "--bootstrap", "200", *extra,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return _metrics(out)


@pytest.mark.parametrize("model", MODELS)
def test_replay_eval_of_each_recorded_model(tmp_path: Path, model: str) -> None:
    out = tmp_path / model
    m = _replay(model, out)
    for key in METRIC_KEYS:
        assert key in m
    assert m["n"] == 200
    assert m["answered"] + m["refused"] + m["unparsed"] + m["errors"] == 200
    assert m["errors"] == 0
    acc = [m["acc_km"][k] for k in ("1", "25", "200", "750", "2500")]
    assert acc == sorted(acc) and 0 < acc[-1] <= 1
    assert m["config"]["backend"] == "replay" and m["config"]["model"] == model
    for name in ("predictions.jsonl", "scored.csv", "report.md"):
        assert (out / name).is_file()
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(
        p.name for p in IMAGES.iterdir()
    )
    print(
        f"\n{model}: coverage {m['answered'] / m['n']:.3f} refused {m['refused']} "
        f"unparsed {m['unparsed']} acc {acc} median {m['median_km']:.0f} km "
        f"geoscore {m['geoscore_mean']:.0f} country {m['country_acc']}"
    )


def test_openai_backend_run_matches_the_replay_run(server: ReplayServer, tmp_path: Path) -> None:
    replayed = _replay("gpt-4o", tmp_path / "replay")
    run = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES), "--base-url", server.base_url,
        "--model", "gpt-4o", "--out", str(tmp_path / "http"), "--bootstrap", "200",
        "--concurrency", "16",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    served = _metrics(tmp_path / "http")
    assert len(server.requests) == 200
    for key in METRIC_KEYS:
        assert served[key] == replayed[key], key
    assert served["ci95"] == replayed["ci95"]
    # The model saw images only: no request carries the truth of any image.
    with TRUTH.open(newline="", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    bodies = b"\n".join(r.body for r in server.requests).decode()
    for row in truth:
        assert row["lat"][:7] not in bodies and row["lng"][:7] not in bodies


def test_scoring_a_predictions_file_gives_the_same_metrics(tmp_path: Path) -> None:
    first = _replay("gpt-4o-mini", tmp_path / "a")
    run = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES),
        "--predictions", str(tmp_path / "a" / "predictions.jsonl"),
        "--out", str(tmp_path / "b"), "--bootstrap", "200",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    again = _metrics(tmp_path / "b")
    for key in METRIC_KEYS:
        assert again[key] == first[key], key


def test_resume_finishes_a_partial_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _replay("claude-3.5-sonnet", out, "--limit", "50")
    assert _metrics(out)["n"] == 50
    full = _replay("claude-3.5-sonnet", out, "--resume")
    assert full["n"] == 200
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200 == len({json.loads(x)["id"] for x in lines})


def test_missing_predictions_count_as_errors(tmp_path: Path) -> None:
    _replay("gpt-4o", tmp_path / "a")
    lines = (tmp_path / "a" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines[:150]) + "\n", encoding="utf-8")
    run = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES), "--predictions", str(partial),
        "--out", str(tmp_path / "b"), "--bootstrap", "0",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    m = _metrics(tmp_path / "b")
    assert m["n"] == 200 and m["config"]["missing_predictions"] == 50
    assert m["errors"] >= 50


def test_compare_runs_and_references(tmp_path: Path) -> None:
    _replay("gpt-4o", tmp_path / "gpt-4o")
    _replay("llava-v1.6-mistral-7b", tmp_path / "llava")
    external = tmp_path / "geoclip.csv"
    with TRUTH.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    external.write_text(
        "id,lat,lon\n" + "".join(f"{r['filename']},{r['lat']},{r['lng']}\n" for r in rows[:100]),
        encoding="utf-8",
    )
    run = run_ethan(
        "compare", str(tmp_path / "gpt-4o"), str(tmp_path / "llava"), "--truth", str(TRUTH),
        "--external", f"oracle={external}", "--reference", "prior", "--reference", "random-city",
        "--out", str(tmp_path / "cmp"), "--bootstrap", "200",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    table = (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8")
    for name in ("gpt-4o", "llava", "oracle", "prior", "random-city"):
        assert name in table
    assert (tmp_path / "cmp" / "comparison.csv").is_file()
    assert "100" in table  # restricted to the 100 images every system shares
