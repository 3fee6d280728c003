"""Memory of a long run through each engine, written to a JSONL file: it must stay flat.

Runs N images (distinct paths: hard links to the 200 corpus photos shrunk to 96 px, in a
temporary folder) through the local engine (``Geolocator.locate_many`` + ``PredictionWriter``,
what ``ethan locate --out`` does) and through the Ray engine (``locate_to_file``: a local
Ray cluster, actors each holding a Geolocator). The backend answers in-process with real
recorded gpt-4o text, so the engines are measured, not a server. Prints resident memory at
checkpoints and the ratio of the last to the first (1,000 images): flat is near 1.0. For Ray
the driver and the actor processes are measured apart. ``local-forget`` is the local engine
with the ``PredictionWriter``'s ``done`` map emptied as it goes: the difference between it
and ``local`` is what that map costs (it holds every prediction written).

    python eval/bench/engines_memory.py                        # 100,000 local, 20,000 Ray
    python eval/bench/engines_memory.py --n 20000 --ray-n 5000
    python eval/bench/engines_memory.py --engines ray
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import io
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ethan import Geolocator, Prediction, PredictionWriter
from ethan.backends.base import Choice, GenerateConfig, Message, ModelOutput
from ethan.results import prediction_key
from ethan.types import Usage

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "streetview-dev"
SIDE = 96


def rss_mib(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def actor_pids() -> list[int]:
    """The processes running the Ray engine's actors (Ray names them after the class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"LocateActor" in cmdline:
            pids.append(int(entry.name))
    return pids


class RecordedBackend:
    """Answers every request with the next recorded gpt-4o answer, in memory."""

    name = "recorded"
    model = "gpt-4o"

    def __init__(self, answers: list[str]) -> None:
        self._answers = itertools.cycle(answers)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        return ModelOutput(
            model=self.model,
            choices=[Choice(text=next(self._answers), finish_reason="stop")],
            usage=Usage(prompt_tokens=1000, completion_tokens=300, total_tokens=1300),
        )

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    async def aclose(self) -> None:
        pass


def recorded_answers() -> list[str]:
    csv.field_size_limit(1 << 30)
    with (CORPUS / "responses" / "gpt-4o.csv").open(newline="", encoding="utf-8") as fh:
        return [row["model_response"] for row in csv.DictReader(fh)]


def make_geolocator(answers: list[str]) -> Geolocator:
    """The factory each Ray actor calls once (a module function: it pickles)."""
    return Geolocator(RecordedBackend(answers), cache=False, max_side=SIDE)


def image_paths(folder: Path, n: int) -> list[Path]:
    """``n`` distinct paths: hard links to the corpus photos shrunk to SIDE pixels."""
    sources = []
    for path in sorted((CORPUS / "images").iterdir()):
        with Image.open(path) as img:
            img.thumbnail((SIDE, SIDE))
            buffer = io.BytesIO()
            img.convert("RGB").save(buffer, "JPEG", quality=85)
        small = folder / f"src-{path.name}"
        small.write_bytes(buffer.getvalue())
        sources.append(small)
    links = folder / "images"
    links.mkdir()
    paths = []
    for i in range(n):
        link = links / f"{i:07d}.jpg"
        os.link(sources[i % len(sources)], link)
        paths.append(link)
    return paths


class Checkpoints:
    def __init__(self, n: int, label: str, measure: Callable[[], tuple[float, ...]]) -> None:
        self.marks = sorted({c for c in (1_000, 10_000, 25_000, 50_000, n) if c <= n})
        self.label = label
        self.measure = measure
        self.rows: list[tuple[int, tuple[float, ...], float]] = []
        self.done = 0
        self.started = time.perf_counter()

    def add(self, _: Prediction | None = None) -> None:
        self.done += 1
        if self.done in self.marks:
            elapsed = time.perf_counter() - self.started
            values = self.measure()
            self.rows.append((self.done, values, elapsed))
            shown = "  ".join(f"{v:7.1f}" for v in values)
            print(f"{self.label}: {self.done:>8,} images  rss MiB {shown}  {elapsed:7.1f} s")

    def report(self, names: tuple[str, ...]) -> None:
        if len(self.rows) < 2:
            print(f"{self.label}: too few images for a ratio")
            return
        (first_n, first, _), (last_n, last, elapsed) = self.rows[0], self.rows[-1]
        for i, name in enumerate(names):
            ratio = last[i] / first[i] if first[i] else float("nan")
            print(
                f"{self.label}: {name} rss {first[i]:.1f} MiB at {first_n:,} -> {last[i]:.1f} "
                f"MiB at {last_n:,} images: ratio {ratio:.3f}"
            )
        print(f"{self.label}: {last_n / elapsed:.0f} images/s")


def run_local(paths: list[Path], out: Path, concurrency: int, *, forget: bool = False) -> None:
    """``forget``: empty the writer's ``done`` as the run goes (what the Ray engine does)."""
    marks = Checkpoints(len(paths), "local-forget" if forget else "local", lambda: (rss_mib(),))

    async def go() -> None:
        geo = make_geolocator(recorded_answers())
        with PredictionWriter(out) as writer:
            try:
                async for prediction in geo.locate_many(paths, concurrency=concurrency):
                    writer.write(prediction)
                    if forget:
                        writer.done.pop(prediction_key(prediction), None)
                    marks.add()
            finally:
                await geo.aclose()

    asyncio.run(go())
    marks.report(("process",))


def run_ray(paths: list[Path], out: Path, actors: int, concurrency: int) -> None:
    import ray

    from ethan.engines.ray import RayOptions, locate_to_file

    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
    try:

        def measure() -> tuple[float, float]:
            return rss_mib(), sum(rss_mib(pid) for pid in actor_pids())

        marks = Checkpoints(len(paths), "ray", measure)
        factory = functools.partial(make_geolocator, recorded_answers())
        options = RayOptions(actors=actors, batch_size=64, concurrency=concurrency, num_cpus=0.5)
        locate_to_file(paths, factory, out, options=options, on_prediction=marks.add)
        marks.report(("driver", f"{actors} actors"))
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="images, local engine")
    parser.add_argument("--ray-n", type=int, default=20_000, help="images, Ray engine")
    parser.add_argument(
        "--engines",
        default="local,local-forget,ray",
        help="comma-separated: local (as `ethan locate --out`), local-forget (the same with "
        "the writer's done emptied as it goes), ray",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="images in flight")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors")
    args = parser.parse_args()
    engines = {e.strip() for e in args.engines.split(",")}
    with tempfile.TemporaryDirectory(prefix="ethan-bench-") as tmp:
        folder = Path(tmp)
        local = engines & {"local", "local-forget"}
        paths = image_paths(folder, max(args.n if local else 0, args.ray_n))
        if "local" in engines:
            run_local(paths[: args.n], folder / "local.jsonl", args.concurrency)
        if "local-forget" in engines:
            run_local(paths[: args.n], folder / "forget.jsonl", args.concurrency, forget=True)
        if "ray" in engines:
            per_actor = max(1, args.concurrency // args.actors)
            run_ray(paths[: args.ray_n], folder / "ray.jsonl", args.actors, per_actor)


if __name__ == "__main__":
    main()
