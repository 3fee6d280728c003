"""Long steps a person waits for show a progress bar on a terminal: embedding images for a
baseline (``ethan baseline embed``), checked in a real pseudo-terminal."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import STREETVIEW
from tests.pty_run import run_in_pty

ROOT = Path(__file__).resolve().parents[1]


def test_embedding_shows_a_progress_bar(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the baselines extra is not installed")
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((STREETVIEW / "images").iterdir())[:5]:
        shutil.copy(source, photos / source.name)
    out = tmp_path / "emb.npy"
    run = run_in_pty(
        [sys.executable, "-m", "ethan", "baseline", "embed", str(photos), "--out", str(out),
         "--encoder", "random:16:1", "--no-cache"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "ETHAN_CACHE_DIR": str(tmp_path / "c")},
    )  # fmt: skip
    assert run.returncode == 0, run.text
    bars = [line for line in run.text.splitlines() if line.strip().startswith("embedding")]
    assert bars and "5/5" in bars[-1], run.text
    assert "wrote 5 embeddings" in " ".join(run.text.split())
    assert out.is_file()
