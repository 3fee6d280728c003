"""A batch run in its own process, for the kill tests: ``python -m tests.batch_client URL OUT
CACHE MAX_REQUESTS IMAGE...``."""

from __future__ import annotations

import asyncio
import sys
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


if __name__ == "__main__":
    url, out, cache, count, *paths = sys.argv[1:]
    asyncio.run(main(url, Path(out), Path(cache), int(count), paths))
