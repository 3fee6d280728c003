"""Classifier baselines in the same harness as the vision-language models.

* geocells (:mod:`~ethan.baselines.geocells`): PlaNet's adaptive S2 cells and PIGEON's
  semantic cells that follow borders; saved as JSON, plotted as PNG;
* haversine label smoothing (:mod:`~ethan.baselines.smoothing`), one-hot as the ablation;
* a classifier head over frozen image embeddings with intra-cell retrieval
  (:mod:`~ethan.baselines.classifier`), pluggable encoders and precomputed embeddings
  (:mod:`~ethan.baselines.embeddings`);
* GeoCLIP through its package (:mod:`~ethan.baselines.geoclip`);
* candidates for the hybrid (:mod:`~ethan.baselines.candidates`): a baseline's top-k in the
  prompt of a vision-language model.

Every baseline writes ethan :class:`~ethan.types.Prediction` lines that ``ethan eval
--predictions`` and ``ethan compare`` score. The names below are imported on first use, so
importing this package needs neither PyTorch nor s2cell (``pip install 'ethan-geo[baselines]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Candidate": "candidates",
    "load_candidates": "candidates",
    "Cell": "geocells",
    "Partition": "geocells",
    "build_partition": "partitions",
    "haversine_targets": "smoothing",
    "onehot_targets": "smoothing",
    "GeoCellClassifier": "classifier",
    "TrainConfig": "classifier",
    "create_encoder": "embeddings",
    "embed_images": "embeddings",
    "EmbeddingCache": "embeddings",
    "PrecomputedEmbeddings": "embeddings",
    "write_embeddings": "embeddings",
    "GeoCLIPPredictor": "geoclip",
    "WeightsUnavailableError": "errors",
    "plot_partition": "plot",
    "synthetic_set": "synthetic",
    "Item": "outputs",
    "dataset_items": "runs",
    "train_baseline": "runs",
    "predict_baseline": "runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ethan.baselines' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ethan.baselines.{module}"), name)
    globals()[name] = value
    return value
