"""A batch run in its own process, for the kill tests: ``python -m tests.batch_client URL OUT
CACHE MAX_REQUESTS IMAGE...``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ethan import Geolocator, ResponseCache
from ethan.batch import BatchLimits, locate_batch, state_path_for
from ethan.results import PredictionWriter


async def main(url: str, out: Path, cache: Path, max_requests: int, images: list[str]) -> None:
    geo = Geolocator(
        "openai", model="gpt-4o-mini", backend_options={"base_url": url}, cache=ResponseCache(cache)
    )
    with PredictionWriter(out) as writer:
        try:
            await locate_batch(
                geo,
                [Path(p) for p in images],
                writer.write,
                state_path=state_path_for(out),
                poll_interval=0.05,
                limits=BatchLimits(max_requests=max_requests),
            )
        finally:
            await geo.aclose()


def spawn(args: list[str], images: list[Path], *, stderr: int) -> subprocess.Popen[str]:
    """This module run in its own process (``args``: URL OUT CACHE COUNT), as a test
    that kills or inspects a run in flight starts it."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch_client", *args, *map(str, images)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


if __name__ == "__main__":
    url, out, cache, count, *paths = sys.argv[1:]
    asyncio.run(main(url, Path(out), Path(cache), int(count), paths))
