"""Images per second through the local engine and the Ray engine, same images, same server.

N image paths (hard links to the 200 corpus photos, 640 px, cycled) go through the OpenAI
backend over real HTTP to the replay server (``tests/replay_server.py``, its own process,
``--latency`` seconds a request): first the local engine (``Geolocator.locate_many``), then
the Ray engine (a local Ray cluster, ``--actors`` actors sharing the same number of images
in flight). Both write the JSONL file a user would get. Prints images/s of each, their
ratio, and whether the two gave the same statuses and points image for image.

    python eval/bench/engines_throughput.py                   # 1,000 images, 32 in flight
    python eval/bench/engines_throughput.py --n 2000 --latency 0.5 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from load_openai import CORPUS, serve  # type: ignore[import-not-found]

from ethan import Geolocator, PredictionWriter, read_predictions


def make_geolocator(base_url: str) -> Geolocator:
    return Geolocator(
        "openai", backend_options={"base_url": base_url, "timeout": 60.0}, cache=False
    )


def image_paths(folder: Path, n: int) -> list[Path]:
    sources = sorted((CORPUS / "images").iterdir())
    paths = []
    for i in range(n):
        link = folder / f"{i:06d}-{sources[i % len(sources)].name}"
        os.link(sources[i % len(sources)], link)
        paths.append(link)
    return paths


def run_local(base_url: str, paths: list[Path], out: Path, concurrency: int) -> float:
    async def go() -> None:
        geo = make_geolocator(base_url)
        with PredictionWriter(out) as writer:
            try:
                async for prediction in geo.locate_many(paths, concurrency=concurrency):
                    writer.write(prediction)
            finally:
                await geo.aclose()

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def run_ray(base_url: str, paths: list[Path], out: Path, concurrency: int, actors: int) -> float:
    import ray

    from ethan.engines.ray import RayOptions, locate_to_file

    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
    try:
        options = RayOptions(
            actors=actors, batch_size=32, concurrency=max(1, concurrency // actors), num_cpus=0.5
        )
        started = time.perf_counter()
        locate_to_file(paths, functools.partial(make_geolocator, base_url), out, options=options)
        return time.perf_counter() - started
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=32, help="images in flight in all")
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds a request")
    parser.add_argument("--actors", type=int, default=2)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(CORPUS, args.latency, child), daemon=True)
    server.start()
    if not parent.poll(120):
        raise SystemExit(f"the replay server did not start (exit code {server.exitcode})")
    base_url = parent.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="ethan-bench-") as tmp:
            folder = Path(tmp)
            (folder / "images").mkdir()
            paths = image_paths(folder / "images", args.n)
            local_s = run_local(base_url, paths, folder / "local.jsonl", args.concurrency)
            ray_s = run_ray(base_url, paths, folder / "ray.jsonl", args.concurrency, args.actors)
            local = {
                p.image: (p.status, p.lat, p.lon) for p in read_predictions(folder / "local.jsonl")
            }
            remote = {
                p.image: (p.status, p.lat, p.lon) for p in read_predictions(folder / "ray.jsonl")
            }
    finally:
        parent.send("stop")
        if parent.poll(30):
            parent.recv()
        server.join(timeout=10)
    print(
        f"{args.n:,} images of 640 px, {args.concurrency} in flight, server latency "
        f"{args.latency} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"local engine: {args.n / local_s:7.1f} images/s ({local_s:.1f} s)")
    print(
        f"ray engine:   {args.n / ray_s:7.1f} images/s ({ray_s:.1f} s, {args.actors} actors, "
        "actor start-up included, ray.init not)"
    )
    print(f"ray / local: {local_s / ray_s:.2f}")
    same = local == remote and len(local) == args.n
    print(f"same predictions image for image: {same} ({len(local):,} local, {len(remote):,} ray)")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
