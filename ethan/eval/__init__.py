"""Evaluation: metrics, comparison, reports and reference baselines.

Metrics, comparison and reports import no model: a list of :class:`Record` (truth +
prediction) is enough. :mod:`ethan.eval.runner` drives a :class:`~ethan.Geolocator` over a
:class:`Dataset` and scores the result.
"""

from __future__ import annotations

from ethan.eval.compare import (
    Comparison,
    ExternalCSVError,
    PairStats,
    compare,
    comparison_csv,
    comparison_markdown,
    load_external_csv,
)
from ethan.eval.datasets import PRESETS, Dataset, RowProblem, Sample, load_dataset
from ethan.eval.metrics import (
    MAX_KM,
    THRESHOLDS_KM,
    Metrics,
    Record,
    distances_km,
    geoscore,
    records_from_points,
    score,
)
from ethan.eval.reference import prior_medoid, random_city
from ethan.eval.report import write_report
from ethan.eval.runner import Evaluation, evaluate, match_records, read_scored, score_run

__all__ = [
    "MAX_KM",
    "PRESETS",
    "THRESHOLDS_KM",
    "Comparison",
    "Dataset",
    "Evaluation",
    "ExternalCSVError",
    "Metrics",
    "PairStats",
    "Record",
    "RowProblem",
    "Sample",
    "compare",
    "comparison_csv",
    "comparison_markdown",
    "distances_km",
    "evaluate",
    "geoscore",
    "load_dataset",
    "load_external_csv",
    "match_records",
    "prior_medoid",
    "random_city",
    "read_scored",
    "records_from_points",
    "score",
    "score_run",
    "write_report",
]
