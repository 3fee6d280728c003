"""Memory of ``Geolocator.locate_many`` over a long input: it must stay flat.

Runs the whole pipeline (image preparation, prompt rendering, parsing, geocoding,
aggregation) on N images with an in-process backend that answers with real recorded model
text, so only the pipeline itself is measured. Prints resident memory at checkpoints and the
ratio of the last checkpoint to the first; a flat pipeline keeps it near 1.0.

    python eval/bench/locate_many_memory.py            # 100,000 images
    python eval/bench/locate_many_memory.py --n 20000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import itertools
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from ethan import Geolocator
from ethan.backends.base import Choice, GenerateConfig, Message, ModelOutput
from ethan.types import Usage

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "streetview-dev"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RecordedBackend:
    """Answers every request with the next recorded gpt-4o answer, in memory."""

    name = "recorded"
    model = "gpt-4o"

    def __init__(self, answers: list[str]) -> None:
        self._answers = itertools.cycle(answers)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        text = next(self._answers)
        return ModelOutput(
            model=self.model,
            choices=[Choice(text=text, finish_reason="stop")],
            usage=Usage(prompt_tokens=1000, completion_tokens=300, total_tokens=1300),
        )

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    async def aclose(self) -> None:
        pass


def small_images(side: int) -> list[bytes]:
    """The corpus photos shrunk to ``side`` pixels, so the run measures the pipeline."""
    out = []
    for path in sorted((CORPUS / "images").iterdir()):
        with Image.open(path) as img:
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=85)
            out.append(buf.getvalue())
    return out


async def run(n: int, concurrency: int, checkpoints: list[int]) -> list[tuple[int, float, float]]:
    csv.field_size_limit(1 << 30)
    with (CORPUS / "responses" / "gpt-4o.csv").open(newline="", encoding="utf-8") as fh:
        answers = [row["model_response"] for row in csv.DictReader(fh)]
    images = small_images(96)

    def stream() -> Iterator[bytes]:
        for i in range(n):
            yield images[i % len(images)]

    geo = Geolocator(RecordedBackend(answers), cache=False, max_side=96)
    rows = []
    started = time.perf_counter()
    done = 0
    async for _ in geo.locate_many(stream(), concurrency=concurrency):
        done += 1
        if done in checkpoints:
            rows.append((done, rss_mib(), time.perf_counter() - started))
            print(
                f"{done:>8,} images  rss {rows[-1][1]:7.1f} MiB  {rows[-1][2]:7.1f} s", flush=True
            )
    await geo.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    checkpoints = sorted({c for c in (1_000, 10_000, 25_000, 50_000, args.n) if c <= args.n})
    rows = asyncio.run(run(args.n, args.concurrency, checkpoints))
    first, last = rows[0], rows[-1]
    print(f"rss ratio {last[0]:,} / {first[0]:,} images: {last[1] / first[1]:.3f}")
    print(f"throughput: {last[0] / last[2]:.0f} images/s (pipeline only, 1 process)")


if __name__ == "__main__":
    main()
