"""Image preparation in worker processes: the same requests and predictions as threads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ethan import Geolocator, Status
from ethan.errors import ImageError
from ethan.images import prepare_image
from ethan.workers import ImageWorkers
from tests.conftest import STREETVIEW, locate_all
from tests.replay_server import ReplayServer

IMAGES = sorted((STREETVIEW / "images").iterdir())[:24]


def test_processes_prepare_the_same_bytes_as_threads(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")

    async def go() -> tuple[list[str], set[int], str]:
        workers = ImageWorkers(2)
        try:
            hashes = [(await workers.prepare(p, max_side=256)).sha256 for p in IMAGES[:4]]
            pids = set(await asyncio.gather(*(_pid(workers) for _ in range(8))))
            with pytest.raises(ImageError) as caught:
                await workers.prepare(broken, max_side=256)
            return hashes, pids, str(caught.value)
        finally:
            workers.close()

    hashes, pids, message = asyncio.run(go())
    assert hashes == [prepare_image(p, max_side=256).sha256 for p in IMAGES[:4]]
    assert os.getpid() not in pids
    assert "broken.jpg" in message
    with pytest.raises(ValueError):
        ImageWorkers(-1)


async def _pid(workers: ImageWorkers) -> int:
    pool = workers._processes()
    return await asyncio.get_running_loop().run_in_executor(pool, os.getpid)


def test_a_geolocator_with_workers_gives_the_same_predictions(
    server: ReplayServer, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jpg"
    options = {"base_url": server.base_url}

    def run(workers: int) -> dict[str, tuple[object, ...]]:
        geo = Geolocator("openai", backend_options=options, cache=False, workers=workers)
        found = locate_all(geo, [*IMAGES, missing])
        return {p.image: (p.status, p.lat, p.lon, p.image_sha256) for p in found}

    threads, processes = run(0), run(2)
    assert processes == threads
    assert processes[str(missing)][0] is Status.ERROR
    assert sum(v[0] is Status.OK for v in processes.values()) >= len(IMAGES) // 2
