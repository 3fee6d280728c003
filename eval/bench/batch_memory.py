"""Memory of a Batch API run (``ethan.batch.locate_batch``) over a long input.

Runs N image files (links to the 200 corpus photos, shrunk) through the whole batch path:
prepare, write the JSONL input files, upload, create, poll, download and turn every result
line into a prediction written to a JSONL file. The Files + Batches server
(``tests/batch_server.py``) runs in its own process, so only the client is measured. Prints
the client's resident memory when the input files are all written and at every fifth of the
predictions, the ratio of the last checkpoint to the first, and the state file's bytes per
image (the one part that grows with the run: the request map that makes resume possible).

    python eval/bench/batch_memory.py             # 100,000 images
    python eval/bench/batch_memory.py --n 10000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "streetview-dev"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(corpus: Path, conn: Connection) -> None:
    """Child process: the Files + Batches server until the parent says stop."""
    sys.path.insert(0, str(ROOT))
    from tests.batch_server import BatchServer
    from tests.replay_server import ReplayCorpus

    with BatchServer(ReplayCorpus(corpus)) as server:
        conn.send(server.base_url)
        conn.recv()


def image_files(folder: Path, n: int, side: int) -> list[Path]:
    """N distinct paths to the corpus photos shrunk to ``side`` pixels."""
    sources = []
    for path in sorted((CORPUS / "images").iterdir()):
        with Image.open(path) as img:
            img.thumbnail((side, side))
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, "JPEG", quality=85)
        target = folder / "src" / path.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(buffer.getvalue())
        sources.append(target)
    links = folder / "images"
    links.mkdir()
    paths = []
    for i in range(n):
        link = links / f"{i}.jpg"
        link.symlink_to(sources[i % len(sources)])
        paths.append(link)
    return paths


async def run(base_url: str, images: list[Path], folder: Path, files: int) -> None:
    from ethan import Geolocator, Prediction
    from ethan.batch import BatchLimits, BatchProgress, locate_batch, state_path_for

    n = len(images)
    geo = Geolocator(
        "openai",
        model="gpt-4o-mini",
        backend_options={"base_url": base_url},
        cache=False,
        max_side=96,
    )
    out = folder / "predictions.jsonl"
    marks = [n * k // 5 for k in range(1, 6)]
    rows: list[tuple[str, float]] = []
    start_rss = rss_mib()
    started = time.perf_counter()

    def progress(snapshot: BatchProgress) -> None:
        if snapshot.phase == "polling" and not rows:
            rows.append(("input files written and uploaded", rss_mib()))
        while marks and snapshot.done >= marks[0]:
            rows.append((f"{marks.pop(0):>8,} predictions", rss_mib()))

    limits = BatchLimits(max_requests=max(1, -(-n // files)))
    # a plain appending sink: PredictionWriter keeps every prediction in ``done``, which
    # would be measured instead of the engine
    with out.open("w", encoding="utf-8") as fh:

        def write(prediction: Prediction) -> None:
            fh.write(prediction.to_json_line())
            fh.flush()

        summary = await locate_batch(
            geo,
            images,
            write,
            state_path=state_path_for(out),
            poll_interval=0.2,
            limits=limits,
            on_progress=progress,
        )
    await geo.aclose()
    seconds = time.perf_counter() - started
    for label, rss in rows:
        print(f"{label:<34} rss {rss:8.1f} MiB", flush=True)
    state_bytes = state_path_for(out).stat().st_size
    print(f"statuses: {dict(summary.statuses)}; batches: {len(summary.batches)}")
    print(f"rss ratio last / first checkpoint: {rows[-1][1] / rows[0][1]:.3f}")
    growth = (rows[-1][1] - start_rss) * 1024 * 1024 / n
    print(f"rss at the start {start_rss:.1f} MiB; growth {growth:,.0f} bytes per image")
    print(f"state file: {state_bytes / 1e6:.1f} MB, {state_bytes / n:.0f} bytes per image")
    print(f"{n / seconds:.0f} images/s end to end (client and server on this machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=5, help="input files to split into")
    parser.add_argument("--side", type=int, default=96, help="image size in pixels (>= 64)")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(CORPUS, child), daemon=True)
    server.start()
    if not parent.poll(120):
        raise SystemExit(f"the batch server did not start (exit code {server.exitcode})")
    base_url = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images = image_files(folder, args.n, args.side)
        print(f"{args.n:,} images of {args.side} px in {args.files} files via {base_url}")
        try:
            asyncio.run(run(base_url, images, folder, args.files))
        finally:
            parent.send("stop")
            server.join(timeout=30)


if __name__ == "__main__":
    main()
