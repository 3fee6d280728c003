"""``ethan baseline`` end to end on the real Street View photos with a randomly initialised
encoder (its accuracy is meaningless): train, predict, then ``ethan eval`` and
``ethan compare`` score the baseline like any other system."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("s2cell")

from ethan.baselines.embeddings import EmbeddingCache
from ethan.cli import app
from ethan.results import read_predictions
from ethan.types import Status
from tests.conftest import STREETVIEW

IMAGES = STREETVIEW / "images"
runner = CliRunner()


def ethan(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return _flat(result.output)


def _flat(text: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The corpus cut in two: 150 photos to train on, 50 held out."""
    folder = tmp_path_factory.mktemp("split")
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = []
    for name, part in (("train.csv", rows[:150]), ("test.csv", rows[150:])):
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    return paths[0], paths[1]


def test_train_predict_eval_compare(
    split: tuple[Path, Path], tmp_path: Path, isolated_user_dir: Path
) -> None:
    train, test = split
    model = tmp_path / "model"
    ethan(
        "baseline", "train", train, "--images-root", IMAGES, "--encoder", "random:32",
        "--cells", "semantic", "--max-count", "40", "--min-count", "5", "--epochs", "5",
        "--threads", "1", "--out", model,
    )  # fmt: skip
    for name in ("model.json", "cells.json", "head.pt", "reference.npz", "train.json"):
        assert (model / name).is_file(), name
    meta = json.loads((model / "model.json").read_text())
    assert meta["dim"] == 32 and meta["encoder"] == {"spec": "random:32"}
    report = json.loads((model / "train.json").read_text())
    assert report["embedded"] == 150 and report["encoded"] == 150

    preds = tmp_path / "baseline.jsonl"
    ethan("baseline", "predict", test, "--images-root", IMAGES, "--model", model,
          "--top-k", "3", "--out", preds)  # fmt: skip
    predictions = list(read_predictions(preds))
    assert len(predictions) == 50 and all(p.status is Status.OK for p in predictions)
    assert {p.id for p in predictions} == {Path(p.image).name for p in predictions}
    assert all(len(p.hypotheses) == 3 for p in predictions)
    # every photo was embedded once and cached: the training 150 and the held-out 50
    cache = EmbeddingCache(isolated_user_dir / "embeddings.sqlite")
    assert len(cache) == 200
    cache.close()
    out = ethan("baseline", "embed", test, "--images-root", IMAGES, "--encoder", "random:32",
                "--out", tmp_path / "test.npy")  # fmt: skip
    assert "0 encoded, 50 from the cache" in out

    run = tmp_path / "run"
    ethan("eval", test, "--images-root", IMAGES, "--predictions", preds, "--out", run,
          "--bootstrap", "50")  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 50 and metrics["answered"] == 50 and metrics["errors"] == 0
    assert 0 <= metrics["acc_km"]["750"] <= 1 and metrics["median_km"] > 0
    assert metrics["country_acc"] is not None
    table = ethan("compare", preds, "--truth", test, "--reference", "prior",
                  "--bootstrap", "50")  # fmt: skip
    assert "baseline" in table and "prior" in table


def test_precomputed_embeddings_and_s2_cells(split: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = split
    ethan("baseline", "embed", train, "--images-root", IMAGES, "--encoder", "random:16",
          "--out", tmp_path / "train.npy")  # fmt: skip
    ethan("baseline", "embed", IMAGES, "--encoder", "random:16", "--out", tmp_path / "all.npy")
    assert (tmp_path / "train.ids.csv").read_text().startswith("id,image\n")
    cells = tmp_path / "cells.json"
    ethan("baseline", "cells", train, "--kind", "s2", "--max-count", "40", "--min-count", "5",
          "--out", cells, "--plot", tmp_path / "cells.png")  # fmt: skip
    assert (tmp_path / "cells.png").stat().st_size > 10_000
    model = tmp_path / "model"
    ethan("baseline", "train", train, "--embeddings", tmp_path / "train.npy", "--cells", cells,
          "--epochs", "3", "--hidden", "0", "--smoothing", "onehot", "--threads", "1",
          "--out", model)  # fmt: skip
    assert json.loads((model / "model.json").read_text())["config"]["smoothing"] == "onehot"
    preds = tmp_path / "p.jsonl"
    ethan("baseline", "predict", test, "--images-root", IMAGES, "--model", model,
          "--embeddings", tmp_path / "all.npy", "--refine", "centroid", "--no-names",
          "--out", preds)  # fmt: skip
    predictions = list(read_predictions(preds))
    assert len(predictions) == 50 and all(p.ok for p in predictions)
    assert all(h.source.value == "centroid" for p in predictions for h in p.hypotheses)
    ethan("baseline", "plot", cells, "--truth", train, "--out", tmp_path / "again.png")


def test_without_torch_the_commands_say_what_to_install(
    split: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, _ = split
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch now fails
    for name in [m for m in sys.modules if m.startswith("ethan.baselines.")]:
        if name.rsplit(".", 1)[-1] in ("classifier", "embeddings", "runs"):
            monkeypatch.delitem(sys.modules, name)
    for args in (
        ["baseline", "train", str(train), "--encoder", "random", "--out", str(tmp_path / "m")],
        ["baseline", "predict", str(train), "--model", str(tmp_path), "--out",
         str(tmp_path / "p.jsonl"), "--threads", "1"],
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "pip install 'ethan-geo[baselines]'" in _flat(result.output)


def test_clear_errors(split: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = split
    result = runner.invoke(
        app,
        ["baseline", "train", str(train), "--images-root", str(IMAGES), "--encoder", "nope",
         "--out", str(tmp_path / "m")],
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown encoder" in _flat(result.output)
    result = runner.invoke(
        app, ["baseline", "predict", str(train), "--model", str(tmp_path), "--out",
              str(tmp_path / "p.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 2 and "not a trained baseline folder" in _flat(result.output)
