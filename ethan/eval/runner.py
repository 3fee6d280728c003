"""An evaluation run: a dataset through a Geolocator into a run folder, then scored.

A run folder holds ``predictions.jsonl`` (resumable, one line per image, with the dataset id),
``scored.csv`` (truth next to prediction, what ``ethan compare`` reads), ``metrics.json``
(the metrics and the run's configuration) and the report with its plots. The truth is only
read when scoring: the model is given nothing but the image.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import tempfile
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ethan.errors import ConfigError, NothingToDoError
from ethan.eval.datasets import Dataset, Sample, load_dataset
from ethan.eval.metrics import THRESHOLDS_KM, Metrics, Record, score
from ethan.identity import image_key
from ethan.results import PredictionWriter, read_predictions, write_atomic
from ethan.runs import (
    SPEC_FILE,
    Job,
    RunObserver,
    RunResult,
    build_geolocator,
    close_geolocator,
    drive,
    resolved_spec,
)
from ethan.spec import RunSpec
from ethan.types import Prediction, Status
from ethan.version import __version__

PREDICTIONS = "predictions.jsonl"
SCORED = "scored.csv"
METRICS = "metrics.json"


@dataclass
class Evaluation:
    """What :func:`evaluate` did: the metrics, the run folder, the dataset and the run."""

    metrics: Metrics
    run_dir: Path
    dataset: Dataset
    run: RunResult | None = None

    @property
    def stopped(self) -> str | None:
        return self.run.stopped if self.run is not None else None


def evaluate(
    spec: RunSpec,
    *,
    resume: bool = False,
    overwrite: bool = False,
    predictions: Path | None = None,
    observer: RunObserver | None = None,
) -> Evaluation:
    """Run ``spec`` over ``spec.dataset`` into the run folder ``spec.out`` and score it.

    With ``predictions`` nothing is called: that file is scored instead. The folder gets
    ``run.yaml`` (replay it with ``ethan eval --config``), ``predictions.jsonl``,
    ``metrics.json``, ``scored.csv`` and the report.
    """
    observer = observer or RunObserver()
    if spec.dataset is None:
        raise ConfigError("an evaluation needs a dataset: a manifest (spec.dataset.manifest)")
    if spec.out is None:
        raise ConfigError("an evaluation needs a run folder to write (--out, spec.out)")
    d = spec.dataset
    dataset = load_dataset(
        d.manifest,
        images_root=d.images_root,
        preset=d.preset,
        truth=d.truth,
        limit=d.limit,
        sample=d.sample,
        seed=d.sample_seed,
    )
    observer.loaded(dataset)
    if not dataset.samples:
        raise NothingToDoError(f"the dataset has no usable rows ({dataset.source})")
    run_dir = spec.out
    run_dir.mkdir(parents=True, exist_ok=True)
    if predictions is not None:
        spec.save(run_dir / SPEC_FILE)
    run = None
    if predictions is None:
        run = asyncio.run(_run_dataset(spec, dataset, resume, overwrite, observer))
        spec = run.spec
    recorded = spec.to_data()
    config: dict[str, Any] = {
        **recorded["settings"],
        **recorded["dataset"],
        "backend": spec.backend.resolved_name(),
        "n_images": len(dataset),
    }
    if run is not None:
        config.update(
            model=run.model,
            backend_identity=run.backend_identity,
            concurrency=spec.concurrency,
            stopped_by_budget=run.stopped is not None,
        )
    else:
        config["scored_file"] = str(predictions)
    config["spec"] = recorded
    metrics = score_run(
        run_dir,
        dataset,
        config,
        predictions=predictions,
        thresholds=spec.scoring.thresholds_km,
        bootstrap=spec.scoring.bootstrap,
        seed=spec.scoring.bootstrap_seed,
    )
    if spec.map is not None:  # the answers' own map (the run folder's map.html shows errors)
        from ethan.eval.maps import write_prediction_map

        write_prediction_map(read_predictions(predictions or run_dir / PREDICTIONS), spec.map)
    return Evaluation(metrics=metrics, run_dir=run_dir, dataset=dataset, run=run)


async def _run_dataset(
    spec: RunSpec, dataset: Dataset, resume: bool, overwrite: bool, observer: RunObserver
) -> RunResult:
    geo = build_geolocator(spec)
    spec = resolved_spec(spec, geo)
    spec.save(Path(spec.out or ".") / SPEC_FILE)
    result = RunResult(spec=spec, out=spec.out, model=geo.backend.model)
    result.backend_identity = geo.backend.identity()
    path = Path(spec.out or ".") / PREDICTIONS
    try:
        with PredictionWriter(path, resume=resume, overwrite=overwrite) as writer:
            todo = [s for s in dataset.samples if s.id not in writer.done]
            result.summary.skipped = len(dataset.samples) - len(todo)
            observer.started(len(todo), result.summary.skipped)
            ids: dict[str, deque[str]] = defaultdict(deque)
            for sample in todo:
                ids[image_key(sample.image)].append(sample.id)
            images = [s.image for s in todo]
            job = Job(spec, geo, images, observer, path, resume)
            await drive(job, result, writer, None, ids)
    finally:
        await close_geolocator(geo)
    return result


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
    write_atomic(run_dir / METRICS, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
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
