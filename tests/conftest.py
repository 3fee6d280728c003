"""Shared fixtures: an isolated user dir, the real corpus, a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ethan import Geolocator, Prediction
from tests.replay_server import ReplayCorpus, ReplayServer

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
STREETVIEW = SHARED / "corpus" / "streetview-dev"
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3.5-sonnet",
    "gemini-1.5-flash",
    "llama-3.2-11b-vision",
    "llava-v1.6-mistral-7b",
]


@pytest.fixture(scope="session", autouse=True)
def shared_gazetteer_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compile the gazetteer's data once per session, for every test and subprocess.

    It is derived from installed packages only, so sharing it keeps tests independent.
    """
    folder = tmp_path_factory.mktemp("gazetteer")
    previous = os.environ.get("ETHAN_GAZETTEER_DIR")
    os.environ["ETHAN_GAZETTEER_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("ETHAN_GAZETTEER_DIR", None)
    else:
        os.environ["ETHAN_GAZETTEER_DIR"] = previous


@pytest.fixture(autouse=True)
def isolated_user_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point ethan's cache at a temp folder and hide the developer's OpenAI settings."""
    cache = tmp_path_factory.mktemp("ethan-cache")
    monkeypatch.setenv("ETHAN_CACHE_DIR", str(cache))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return cache


@pytest.fixture(scope="session")
def corpus() -> ReplayCorpus:
    if not STREETVIEW.is_dir():
        pytest.fail(f"the shared corpus is missing: {STREETVIEW}")
    return ReplayCorpus(STREETVIEW)


@pytest.fixture
def server(corpus: ReplayCorpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus) as running:
        yield running


def run_ethan(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ethan`` command (or ``python -m ethan``) in a subprocess."""
    exe = shutil.which("ethan", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "ethan"]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def locate_all(geo: Geolocator, images: list[Path], concurrency: int = 16) -> list[Prediction]:
    """Every prediction of a batch (in completion order); closes the Geolocator."""

    async def go() -> list[Prediction]:
        try:
            return [p async for p in geo.locate_many(images, concurrency=concurrency)]
        finally:
            await geo.aclose()

    return asyncio.run(go())


def assert_near(hit: Any, lat: float, lon: float, km: float) -> None:
    """Assert that a point (anything with ``lat``/``lon``) lies within ``km`` of
    (``lat``, ``lon``), naming it and the distance when not."""
    from ethan.geo import haversine_km

    assert hit is not None
    d = haversine_km(hit.lat, hit.lon, lat, lon)
    assert d <= km, f"{getattr(hit, 'name', hit)} is {d:.0f} km from ({lat}, {lon})"
