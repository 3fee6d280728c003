"""Classifier baselines on synthetic data: one command, prints every number it measures.

    python eval/bench/baselines.py [--train 20000] [--test 5000] [--seeds 3] [--threads 1]

1. Geocells from the training points: PlaNet S2 cells (merge and drop) and PIGEON-style
   semantic cells: cell count, points per cell, build time, and the checks the tests make
   (bounds, every point in exactly one cell, no cell across a border).
2. The geocell classifier with haversine label smoothing against the one-hot ablation, on
   held-out points, with each cell's point refined by retrieval or left at its centroid:
   acc@1/25/200/750/2500 km and the median error, per seed and averaged; training time and
   prediction throughput.

The embeddings are noisy random Fourier features of each point's location
(:mod:`ethan.baselines.synthetic`): strong at the continent scale, weak at the town scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from ethan.baselines.classifier import GeoCellClassifier, TrainConfig
from ethan.baselines.partitions import build_partition
from ethan.baselines.synthetic import synthetic_set, town_points
from ethan.geo import haversine_km
from ethan.geocode import reverse_many

THRESHOLDS = (1, 25, 200, 750, 2500)


def partitions(n: int) -> None:
    lats, lons = town_points(n, seed=11)
    codes = [p.country_code or "" for p in reverse_many(lats, lons)]
    runs: list[tuple[str, dict[str, Any]]] = [
        ("s2 merge", {"kind": "s2", "max_count": 1000, "min_count": 50}),
        ("s2 drop", {"kind": "s2", "max_count": 1000, "min_count": 50, "small": "drop"}),
        ("semantic", {"kind": "semantic", "max_count": 1000, "min_count": 50}),
    ]
    print(f"\n== geocells from {n} training points (max 1000, min 50 per cell)")
    for name, options in runs:
        started = time.perf_counter()
        partition, labels = build_partition(lats, lons, **options)
        took = time.perf_counter() - started
        kept = labels >= 0
        counts = np.bincount(labels[kept], minlength=len(partition))
        crossing = sum(
            len({codes[i] for i in np.flatnonzero(labels == c)}) > 1 for c in range(len(partition))
        )
        same = (partition.assign(lats, lons, fallback=False) == labels).mean()
        s = partition.stats()
        print(
            f"{name:9s} {s['cells']:5d} cells  points/cell min {counts.min():4d} median "
            f"{np.median(counts):6.1f} max {counts.max():5d}  dropped {int((~kept).sum()):5d}  "
            f"cells across a border {crossing:3d}  assign()==labels {same:.3f}  "
            f"built in {took:.2f} s"
        )


def errors_km(model: GeoCellClassifier, emb: np.ndarray, lats: Any, lons: Any, **kw: Any) -> Any:
    located = model.locate(emb, 5, **kw)
    la = np.array([r[0].lat for r in located])
    lo = np.array([r[0].lon for r in located])
    return np.asarray(haversine_km(la, lo, lats, lons))


def classifier(n_train: int, n_test: int, seeds: int, epochs: int, threads: int) -> None:
    print(f"\n== classifier: {n_train} training / {n_test} held-out points, {epochs} epochs")
    table: dict[tuple[str, str], list[list[float]]] = {}
    for seed in range(seeds):
        train = synthetic_set(n_train, seed=2 * seed)
        test = synthetic_set(n_test, seed=2 * seed + 1)
        partition, labels = build_partition(
            train.lats, train.lons, kind="semantic", max_count=max(100, n_train // 60),
            min_count=max(10, n_train // 600),
        )  # fmt: skip
        for smoothing in ("haversine", "onehot"):
            cfg = TrainConfig(smoothing=smoothing, epochs=epochs, seed=seed, threads=threads)
            started = time.perf_counter()
            model = GeoCellClassifier.train(
                train.embeddings, train.lats, train.lons, partition, labels, cfg
            )
            trained_s = time.perf_counter() - started
            for refine in ("retrieval", "centroid"):
                started = time.perf_counter()
                d = errors_km(model, test.embeddings, test.lats, test.lons, refine=refine)
                rate = n_test / (time.perf_counter() - started)
                row = [float(np.mean(d <= t)) for t in THRESHOLDS] + [float(np.median(d))]
                table.setdefault((smoothing, refine), []).append(row)
                print(
                    f"seed {seed} {len(partition):4d} cells {smoothing:9s} {refine:9s} "
                    + " ".join(f"acc@{t} {v:.3f}" for t, v in zip(THRESHOLDS, row, strict=False))
                    + f" median {row[-1]:7.1f} km  train {trained_s:5.1f} s  "
                    f"predict {rate:6.0f} img/s"
                )
    print("\n== mean over seeds")
    for (smoothing, refine), rows in table.items():
        mean = np.mean(rows, axis=0)
        print(
            f"{smoothing:9s} {refine:9s} "
            + " ".join(f"acc@{t} {v:.3f}" for t, v in zip(THRESHOLDS, mean, strict=False))
            + f" median {mean[-1]:7.1f} km"
        )
    for refine in ("retrieval", "centroid"):
        h, o = table[("haversine", refine)], table[("onehot", refine)]
        wins_25 = sum(a[1] > b[1] for a, b in zip(h, o, strict=True))
        wins_med = sum(a[-1] < b[-1] for a, b in zip(h, o, strict=True))
        ratio = statistics.mean(a[-1] / b[-1] for a, b in zip(h, o, strict=True))
        print(
            f"haversine vs one-hot ({refine}): acc@25km better in {wins_25}/{len(h)} seeds, "
            f"median better in {wins_med}/{len(h)}; median ratio {ratio:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--test", type=int, default=5000)
    parser.add_argument("--cells-points", type=int, default=100000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    partitions(args.cells_points)
    classifier(args.train, args.test, args.seeds, args.epochs, args.threads)


if __name__ == "__main__":
    main()
