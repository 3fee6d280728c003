"""Memory held by resuming a long predictions file: only the keys, never the predictions.

Writes a predictions file of N lines (real-sized lines: raw model text, hypotheses, clues),
then opens it for resuming with :class:`ethan.PredictionWriter` and reports the resident
memory the finished-image keys hold, the time the scan takes, and — measured in the same run
on the first 100,000 lines — what keeping the predictions themselves would cost, as a ratio.

    python eval/bench/resume_memory.py                 # 1,000,000 lines (goal: keys < 150 MB)
    python eval/bench/resume_memory.py --n 200000
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from ethan import Hypothesis, PointSource, Prediction, PredictionWriter, read_predictions
from ethan.types import Clue, Status, Usage

RAW = (
    "1. Clues: right-hand traffic, yellow centre lines, a red octagonal stop sign in English, "
    "wooden utility poles and dry grassland.\n2. Constraints: North America, likely the "
    'western United States.\n{"guesses": [{"country": "United States", "region": "Colorado", '
    '"city": "Denver", "lat": 39.74, "lon": -104.99, "probability": 0.4}]}'
)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status")


def line_for(i: int) -> str:
    h = Hypothesis(
        lat=39.74, lon=-104.99, probability=0.4, country="United States", region="Colorado",
        city="Denver", source=PointSource.STATED,
    )  # fmt: skip
    p = Prediction(
        image=f"/data/archive/{i // 10000:04d}/{i % 10000:04d}/IMG_{i:08d}.jpg",
        status=Status.OK, lat=39.74, lon=-104.99, hypotheses=[h, h],
        clues=[Clue(category="road", observation="yellow centre lines")], raw=[RAW],
        model="gpt-4o", usage=Usage(prompt_tokens=900, completion_tokens=300, total_tokens=1200),
    )  # fmt: skip
    return p.to_json_line()


def write_file(path: Path, n: int) -> None:
    template = line_for(0)
    stem = "/data/archive/0000/0000/IMG_00000000.jpg"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            key = f"/data/archive/{i // 10000:04d}/{i % 10000:04d}/IMG_{i:08d}.jpg"
            fh.write(template.replace(stem, key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.jsonl"
        started = time.perf_counter()
        write_file(path, args.n)
        size = path.stat().st_size / 2**20
        print(f"wrote {args.n:,} lines ({size:,.0f} MiB) in {time.perf_counter() - started:.1f} s")

        gc.collect()
        before = rss_mib()
        started = time.perf_counter()
        writer = PredictionWriter(path, resume=True)
        writer.open()
        scan = time.perf_counter() - started
        gc.collect()
        held = rss_mib() - before
        probe = "/data/archive/0001/0002/IMG_00010002.jpg"
        assert len(writer.done) == args.n and (probe in writer.done) == (args.n > 10002)
        writer.close()
        print(f"resume: {len(writer.done):,} keys held in {held:.1f} MiB "
              f"({held * 2**20 / args.n:.0f} B/key), scanned in {scan:.1f} s "
              f"({args.n / scan:,.0f} lines/s)")  # fmt: skip
        print(f"goal: under 150 MB for the keys -> {'PASS' if held * 1.048576 < 150 else 'FAIL'}")

        # the same run, for comparison: holding the predictions (what resume used to keep)
        sample = min(args.n, 100_000)
        gc.collect()
        before = rss_mib()
        kept = [p for _, p in zip(range(sample), read_predictions(path), strict=False)]
        per_prediction = (rss_mib() - before) * 2**20 / len(kept)
        del kept
        print(f"holding predictions instead: {per_prediction:,.0f} B each "
              f"(ratio {per_prediction / (held * 2**20 / args.n):,.0f}x the keys)")  # fmt: skip


if __name__ == "__main__":
    main()
