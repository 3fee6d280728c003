"""A geocell classifier: a linear or small MLP head over frozen image embeddings.

Trained with haversine label smoothing (or one-hot, the ablation) on CPU. It predicts the
top-k cells with their probabilities; each cell's point is then refined by retrieval among
the training embeddings of that cell (PIGEON's intra-cell refinement) or is the cell's
centroid (:mod:`ethan.baselines.retrieval`). Saved as a folder: ``model.json``,
``cells.json``, ``head.pt`` (the weights) and ``reference.npz`` (the training embeddings
and points used for retrieval).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ethan.baselines.errors import missing_torch
from ethan.baselines.geocells import IntArray, Partition
from ethan.baselines.retrieval import RERANK, Located, Reference, locate_cells
from ethan.baselines.smoothing import Smoothing, haversine_targets, onehot_targets
from ethan.errors import ConfigError
from ethan.geo import FloatArray

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_torch() from exc

FORMAT = 1
Refine = Literal["retrieval", "centroid"]
F32 = np.ndarray[Any, np.dtype[np.float32]]


@dataclass
class TrainConfig:
    """How the head is trained. ``hidden=0`` gives a linear head."""

    smoothing: Smoothing = "haversine"
    tau_km: float = 75.0
    hidden: int = 512
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int | None = None  # PyTorch CPU threads while training (None: as set)

    def __post_init__(self) -> None:
        if self.smoothing not in ("haversine", "onehot"):
            raise ConfigError(f"smoothing is haversine or onehot, not {self.smoothing!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 0 or self.tau_km <= 0:
            raise ConfigError("epochs and batch size must be >= 1, hidden >= 0, tau > 0")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with this many PyTorch CPU threads, then restore the previous number."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def normalize_rows(x: np.ndarray) -> F32:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    v = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-12), dtype=np.float32)


def make_head(dim: int, cells: int, hidden: int, dropout: float) -> nn.Module:
    if hidden == 0:
        return nn.Linear(dim, cells)
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, cells)
    )


@dataclass
class GeoCellClassifier:
    """A trained head, its geocells and the reference set used to refine its points."""

    partition: Partition
    head: nn.Module
    config: TrainConfig
    reference: Reference
    dim: int
    encoder: dict[str, Any] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        embeddings: np.ndarray,
        lats: FloatArray,
        lons: FloatArray,
        partition: Partition,
        labels: IntArray,
        config: TrainConfig | None = None,
        *,
        encoder: dict[str, Any] | None = None,
    ) -> GeoCellClassifier:
        """Train a head on the points whose label is a cell (label -1 is left out)."""
        cfg = config or TrainConfig()
        x = normalize_rows(embeddings)
        keep = np.flatnonzero(np.asarray(labels) >= 0)
        if x.shape[0] != np.asarray(labels).size or x.shape[0] != np.asarray(lats).size:
            raise ConfigError(f"{x.shape[0]} embeddings for {np.asarray(labels).size} labels")
        if keep.size == 0:
            raise ConfigError("no training point is in a geocell")
        x, la, lo, y = x[keep], lats[keep], lons[keep], np.asarray(labels)[keep]
        with torch_threads(cfg.threads):
            torch.manual_seed(cfg.seed)
            head = make_head(x.shape[1], len(partition), cfg.hidden, cfg.dropout)
            history = _fit(head, x, la, lo, y, partition, cfg)
        reference = Reference(x, la, lo, y)
        return cls(partition, head, cfg, reference, x.shape[1], dict(encoder or {}), history)

    # -- prediction -------------------------------------------------------------------------
    def log_probabilities(self, embeddings: np.ndarray) -> FloatArray:
        """(n, cells) log-probabilities of the cells."""
        x = normalize_rows(embeddings)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ConfigError(f"embeddings of size {x.shape[-1]}; this model expects {self.dim}")
        self.head.eval()
        out = []
        with torch.no_grad():
            for start in range(0, x.shape[0], 4096):
                logits = self.head(torch.from_numpy(x[start : start + 4096]))
                out.append(torch.log_softmax(logits, dim=1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.partition)))

    def top_cells(self, embeddings: np.ndarray, k: int = 5) -> tuple[IntArray, FloatArray]:
        """The k most probable cells of each embedding and their probabilities."""
        lp = self.log_probabilities(embeddings)
        k = max(1, min(k, lp.shape[1]))
        top = np.argsort(-lp, axis=1, kind="stable")[:, :k]
        return top.astype(np.int64), np.exp(np.take_along_axis(lp, top, axis=1))

    def locate(
        self,
        embeddings: np.ndarray,
        k: int = 5,
        *,
        refine: Refine = "retrieval",
        neighbours: int = 16,
        rerank: float | None = RERANK,
    ) -> list[list[Located]]:
        """For each embedding, its top-k cells as points with probabilities, best first
        (see :mod:`ethan.baselines.retrieval` for ``refine``, ``neighbours``, ``rerank``)."""
        if refine not in ("retrieval", "centroid"):
            raise ConfigError(f"refine is retrieval or centroid, not {refine!r}")
        cells, probs = self.top_cells(embeddings, k)
        queries = normalize_rows(embeddings) if refine == "retrieval" else None
        return locate_cells(
            self.partition, cells, probs, queries, self.reference,
            neighbours=neighbours, rerank=rerank,
        )  # fmt: skip

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.partition.save(out / "cells.json")
        torch.save(self.head.state_dict(), out / "head.pt")
        ref = self.reference
        np.savez(
            out / "reference.npz",
            embeddings=ref.embeddings.astype(np.float16),
            lats=ref.lats,
            lons=ref.lons,
            labels=ref.labels,
        )
        meta = {
            "format": FORMAT,
            "dim": self.dim,
            "cells": len(self.partition),
            "config": asdict(self.config),
            "encoder": self.encoder,
            "history": self.history,
        }
        (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> GeoCellClassifier:
        src = Path(folder)
        try:
            meta = json.loads((src / "model.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{src} is not a trained baseline folder: {exc}") from None
        if meta.get("format") != FORMAT:
            raise ConfigError(f"{src}/model.json: unknown format {meta.get('format')!r}")
        config = TrainConfig(**meta["config"])
        partition = Partition.load(src / "cells.json")
        head = make_head(int(meta["dim"]), len(partition), config.hidden, config.dropout)
        head.load_state_dict(torch.load(src / "head.pt", map_location="cpu", weights_only=True))
        with np.load(src / "reference.npz") as data:
            reference = Reference(
                data["embeddings"].astype(np.float32),
                data["lats"],
                data["lons"],
                data["labels"].astype(np.int64),
            )
        return cls(
            partition, head, config, reference, int(meta["dim"]),
            dict(meta.get("encoder") or {}), list(meta.get("history") or []),
        )  # fmt: skip


def _fit(
    head: nn.Module,
    x: F32,
    lats: FloatArray,
    lons: FloatArray,
    labels: IntArray,
    partition: Partition,
    cfg: TrainConfig,
) -> list[float]:
    """Minibatch AdamW on the soft cross-entropy; returns the mean loss of each epoch."""
    clat, clon = partition.centroids()
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-x.shape[0] // cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    features = torch.from_numpy(x)
    history: list[float] = []
    head.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(x.shape[0], generator=generator).numpy()
        total = 0.0
        for start in range(0, order.size, cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            targets = _targets(rows, lats, lons, labels, clat, clon, cfg)
            log_p = torch.log_softmax(head(features[rows]), dim=1)
            loss = -(torch.from_numpy(targets) * log_p).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            schedule.step()
            total += float(loss.detach()) * rows.size
        history.append(total / x.shape[0])
    head.eval()
    return history


def _targets(
    rows: np.ndarray,
    lats: FloatArray,
    lons: FloatArray,
    labels: IntArray,
    clat: FloatArray,
    clon: FloatArray,
    cfg: TrainConfig,
) -> F32:
    if cfg.smoothing == "onehot":
        return onehot_targets(labels[rows], clat.size).astype(np.float32)
    t = haversine_targets(lats[rows], lons[rows], labels[rows], clat, clon, cfg.tau_km)
    return t.astype(np.float32)

