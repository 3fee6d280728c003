"""An evaluation run: a dataset through a Geolocator into a run folder, then scored.

A run folder holds ``predictions.jsonl`` (resumable, one line per image, with the dataset id),
``scored.csv`` (truth next to prediction, what ``ethan compare`` reads), ``metrics.json``
(the metrics and the run's configuration) and the report with its plots. The truth is only
read when scoring: the model is given nothing but the image.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ethan import __version__
from ethan.eval.datasets import Dataset, Sample
from ethan.eval.metrics import THRESHOLDS_KM, Metrics, Record, score
from ethan.identity import image_key
from ethan.pipeline import Geolocator
from ethan.results import PredictionWriter, read_predictions
from ethan.types import Prediction, Status

PREDICTIONS = "predictions.jsonl"
SCORED = "scored.csv"
METRICS = "metrics.json"


async def run_predictions(
    dataset: Dataset,
    geo: Geolocator,
    run_dir: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    concurrency: int = 8,
    on_prediction: Callable[[Prediction], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> Path:
    """Locate every image of the dataset not yet in ``run_dir/predictions.jsonl``.

    ``on_start(todo, skipped)`` is called once the resumed file has been read.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / PREDICTIONS
    with PredictionWriter(path, resume=resume, overwrite=overwrite) as writer:
        todo = [s for s in dataset.samples if s.id not in writer.done]
        if on_start is not None:
            on_start(len(todo), len(dataset.samples) - len(todo))
        ids: dict[str, deque[str]] = defaultdict(deque)
        for sample in todo:
            ids[image_key(sample.image)].append(sample.id)
        try:
            async for prediction in geo.locate_many(
                (s.image for s in todo), concurrency=concurrency
            ):
                prediction.id = ids[prediction.image].popleft()
                writer.write(prediction)
                if on_prediction is not None:
                    on_prediction(prediction)
        finally:
            await geo.aclose()
    return path


def match_records(
    dataset: Dataset, predictions: Iterable[Prediction]
) -> tuple[list[Record], list[str]]:
    """Pair each sample with its prediction; samples without one count as errors.

    Predictions are matched by dataset id, else by image file name or stem. Returns the
    records (one per sample, in dataset order) and the ids that had no prediction.
    """
    by_key: dict[str, Prediction] = {}
    for p in predictions:
        if p.id is not None:
            by_key.setdefault(p.id, p)
        name = Path(p.image).name
        by_key.setdefault(name, p)
        by_key.setdefault(Path(name).stem, p)
    records: list[Record] = []
    missing: list[str] = []
    for sample in dataset.samples:
        found = _lookup(by_key, sample)
        if found is None:
            missing.append(sample.id)
            records.append(
                Record(id=sample.id, true_lat=sample.lat, true_lon=sample.lon, status=Status.ERROR)
            )
        else:
            records.append(Record.from_prediction(found, sample.lat, sample.lon, id=sample.id))
    return records, missing


def _lookup(by_key: Mapping[str, Prediction], sample: Sample) -> Prediction | None:
    for key in (sample.id, sample.image.name, sample.image.stem):
        if key in by_key:
            return by_key[key]
    return None


def score_run(
    run_dir: Path,
    dataset: Dataset,
    config: Mapping[str, Any],
    *,
    predictions: Path | None = None,
    thresholds: Sequence[float] = THRESHOLDS_KM,
    bootstrap: int = 1000,
    seed: int = 0,
    report: bool = True,
) -> Metrics:
    """Score a predictions file against the dataset and write the run's files."""
    run_dir.mkdir(parents=True, exist_ok=True)
    source = predictions or run_dir / PREDICTIONS
    records, missing = match_records(dataset, read_predictions(source))
    metrics = score(records, thresholds=thresholds, bootstrap=bootstrap, seed=seed)
    full_config = {
        **config,
        "ethan_version": __version__,
        "predictions": str(source),
        "dataset": dataset.source,
        "dataset_rows_skipped": len(dataset.problems),
        "missing_predictions": len(missing),
        "thresholds_km": list(thresholds),
        "bootstrap": bootstrap,
        "bootstrap_seed": seed,
    }
    document = {**metrics.model_dump(mode="json"), "config": full_config}
    _write_atomic(run_dir / METRICS, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    write_scored(run_dir / SCORED, records)
    if report:
        from ethan.eval.report import write_report

        write_report(run_dir, metrics, records, full_config)
    return metrics


def write_scored(path: Path, records: Sequence[Record]) -> None:
    """Truth next to prediction, one row per image (written atomically)."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, newline=""
    ) as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "true_lat", "true_lon", "status", "lat", "lon"])
        for r in records:
            writer.writerow(
                [r.id, r.true_lat, r.true_lon, r.status.value, _cell(r.lat), _cell(r.lon)]
            )
    os.replace(fh.name, path)


def read_scored(path: Path) -> list[Record]:
    """The records a run folder's ``scored.csv`` holds."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Record(
                id=row["id"],
                true_lat=float(row["true_lat"]),
                true_lon=float(row["true_lon"]),
                status=Status(row["status"]),
                lat=float(row["lat"]) if row["lat"] else None,
                lon=float(row["lon"]) if row["lon"] else None,
            )
            for row in csv.DictReader(fh)
        ]


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _write_atomic(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, encoding="utf-8"
    ) as fh:
        fh.write(text)
    os.replace(fh.name, path)
