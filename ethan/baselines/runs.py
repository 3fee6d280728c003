"""Train and run a geocell classifier on a dataset: what ``ethan baseline`` does, as Python.

>>> from ethan.eval import load_dataset
>>> train = load_dataset("train.csv", images_root="images/")             # doctest: +SKIP
>>> model, report = train_baseline(train, encoder="streetclip")           # doctest: +SKIP
>>> model.save("runs/pigeon-lite")                                        # doctest: +SKIP
>>> test = load_dataset("test.csv", images_root="images/")               # doctest: +SKIP
>>> predictions = predict_baseline(model, dataset_items(test))            # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ethan.baselines.classifier import GeoCellClassifier, Refine, TrainConfig
from ethan.baselines.embeddings import (
    Embedded,
    EmbeddingCache,
    PrecomputedEmbeddings,
    create_encoder,
    embed_images,
)
from ethan.baselines.geocells import Kind, Partition
from ethan.baselines.outputs import Item, Point, error_prediction, to_predictions
from ethan.baselines.partitions import build_partition
from ethan.baselines.planet import Small
from ethan.baselines.retrieval import RERANK
from ethan.errors import ConfigError
from ethan.eval.datasets import Dataset
from ethan.types import PointSource, Prediction

MODEL_NAME = "geocell-classifier"
Progress = Callable[[int], None]


def dataset_items(dataset: Dataset) -> list[Item]:
    return [Item(image=str(s.image), id=s.id) for s in dataset.samples]


def embed_items(
    items: Sequence[Item],
    *,
    encoder: str | None = None,
    embeddings: str | Path | None = None,
    cache: bool = True,
    device: str = "cpu",
    on_batch: Progress | None = None,
) -> Embedded:
    """Embeddings of the items: looked up in a precomputed ``.npy`` (by id, file name or
    stem), or computed by the encoder (cached)."""
    if embeddings is not None:
        keys = [[k for k in (i.id, i.image, Path(i.image).name) if k] for i in items]
        return PrecomputedEmbeddings(embeddings).lookup(keys)
    if encoder is None:
        raise ConfigError("give precomputed embeddings (--embeddings) or an encoder (--encoder)")
    store = EmbeddingCache() if cache else None
    try:
        return embed_images(
            [i.image for i in items],
            create_encoder(encoder, device=device),
            cache=store,
            on_batch=on_batch,
        )
    finally:
        if store is not None:
            store.close()


def train_baseline(
    dataset: Dataset,
    *,
    encoder: str | None = None,
    embeddings: str | Path | None = None,
    cells: Kind | str | Path = "semantic",
    max_count: int = 1000,
    min_count: int = 50,
    small: Small = "merge",
    config: TrainConfig | None = None,
    cache: bool = True,
    device: str = "cpu",
    on_batch: Progress | None = None,
) -> tuple[GeoCellClassifier, dict[str, Any]]:
    """Embed the training images, build (or load) the geocells and train the head."""
    items = dataset_items(dataset)
    embedded = embed_items(
        items, encoder=encoder, embeddings=embeddings, cache=cache, device=device,
        on_batch=on_batch,
    )  # fmt: skip
    keep = np.asarray([i for i in range(len(items)) if i not in embedded.errors], dtype=np.intp)
    if keep.size == 0:
        raise ConfigError("no training image could be embedded")
    lats = np.asarray([dataset.samples[i].lat for i in keep], dtype=np.float64)
    lons = np.asarray([dataset.samples[i].lon for i in keep], dtype=np.float64)
    started = time.perf_counter()
    if cells == "s2":
        partition, labels = build_partition(
            lats, lons, kind="s2", max_count=max_count, min_count=min_count, small=small
        )
    elif cells == "semantic":
        partition, labels = build_partition(
            lats, lons, kind="semantic", max_count=max_count, min_count=min_count
        )
    else:
        partition = Partition.load(cells)
        labels = partition.assign(lats, lons)
    cells_s = time.perf_counter() - started
    spec: dict[str, Any] = (
        {"precomputed": str(embeddings)} if embeddings is not None else {"spec": encoder}
    )
    started = time.perf_counter()
    model = GeoCellClassifier.train(
        embedded.vectors[keep], lats, lons, partition, labels, config, encoder=spec
    )
    report = {
        "images": len(items),
        "embedded": int(keep.size),
        "skipped": {items[i].image: why for i, why in embedded.errors.items()},
        "encoded": embedded.encoded,
        "cached": embedded.cached,
        "cells": partition.stats(),
        "cells_s": round(cells_s, 3),
        "train_s": round(time.perf_counter() - started, 3),
        "final_loss": model.history[-1] if model.history else None,
    }
    return model, report


def predict_baseline(
    model: GeoCellClassifier,
    items: Sequence[Item],
    *,
    encoder: str | None = None,
    embeddings: str | Path | None = None,
    top_k: int = 5,
    refine: Refine = "retrieval",
    rerank: float | None = RERANK,
    names: bool = True,
    cache: bool = True,
    device: str = "cpu",
    on_batch: Progress | None = None,
) -> list[Prediction]:
    """A prediction per item (``error`` where an image could not be embedded). Without
    ``encoder`` or ``embeddings``, the encoder the model was trained with is used."""
    if encoder is None and embeddings is None:
        encoder = model.encoder.get("spec")
        if encoder is None:
            raise ConfigError(
                "this model was trained on precomputed embeddings: pass --embeddings FILE.npy "
                "for the images to predict (or --encoder SPEC of the same encoder)"
            )
    embedded = embed_items(
        items, encoder=encoder, embeddings=embeddings, cache=cache, device=device,
        on_batch=on_batch,
    )  # fmt: skip
    good = [i for i in range(len(items)) if i not in embedded.errors]
    out: dict[int, Prediction] = {
        i: error_prediction(items[i], why, model=MODEL_NAME) for i, why in embedded.errors.items()
    }
    if good:
        located = model.locate(embedded.vectors[good], top_k, refine=refine, rerank=rerank)
        points = [
            [
                Point(
                    p.lat, p.lon, p.probability,
                    PointSource.STATED if p.refined else PointSource.CENTROID,
                    f"geocell {model.partition.cells[p.cell].name}",
                )
                for p in ranked
            ]
            for ranked in located
        ]  # fmt: skip
        made = to_predictions([items[i] for i in good], points, model=MODEL_NAME, names=names)
        out.update(zip(good, made, strict=True))
    return [out[i] for i in range(len(items))]
