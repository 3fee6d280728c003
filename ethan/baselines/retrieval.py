"""Points for predicted cells: the cell's centroid, or retrieval inside the cell.

PIGEON refines a predicted geocell by looking at the training images of that cell whose
embeddings are nearest the query's. Here, in each of the top-k cells, the ``neighbours``
most similar training embeddings (cosine similarity) vote with weights
``exp((s - s_max) / 0.05)`` and the cell's point is their weighted medoid: the neighbour
location with the least weighted distance to the others, which lands on a real cluster
rather than between two.

Retrieval then also re-ranks the k cells, as PIGEON weighs geocell probability against
retrieval similarity: cell j's weight becomes ``p_j * exp(r_j / rerank)``, with r_j the
mean similarity of its four best neighbours, rescaled so the k weights keep the
classifier's total mass. ``rerank=None`` keeps the classifier's order and probabilities.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethan.baselines.geocells import IntArray, Partition
from ethan.geo import FloatArray, haversine_km

TEMPERATURE = 0.05
RERANK = 0.02
_SCORED = 4  # neighbours whose mean similarity scores a cell
_BLOCK = 2048
F32 = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class Reference:
    """Training embeddings (unit rows), their points and their cells."""

    embeddings: F32
    lats: FloatArray
    lons: FloatArray
    labels: IntArray

    @functools.cached_property
    def members(self) -> dict[int, NDArray[np.intp]]:
        """Rows of each cell."""
        order = np.argsort(self.labels, kind="stable")
        keys, starts = np.unique(self.labels[order], return_index=True)
        bounds = [*starts.tolist(), order.size]
        return {int(k): order[bounds[i] : bounds[i + 1]] for i, k in enumerate(keys.tolist())}


@dataclass(frozen=True)
class Located:
    """One candidate: a cell, its point and the classifier's probability for the cell."""

    cell: int
    lat: float
    lon: float
    probability: float
    refined: bool  # True: retrieval inside the cell; False: the cell's centroid
    similarity: float | None = None  # retrieval: mean similarity of the best neighbours


def locate_cells(
    partition: Partition,
    cells: IntArray,
    probs: FloatArray,
    queries: F32 | None,
    reference: Reference,
    *,
    neighbours: int = 16,
    temperature: float = TEMPERATURE,
    rerank: float | None = RERANK,
) -> list[list[Located]]:
    """Points for the (n, k) predicted ``cells``, best first; ``queries=None`` uses the
    centroids."""
    clat, clon = partition.centroids()
    lats, lons = clat[cells], clon[cells]
    refined = np.zeros(cells.shape, dtype=bool)
    score = np.full(cells.shape, np.nan)
    if queries is not None and neighbours > 0:
        for cell in np.unique(cells).tolist():
            rows = reference.members.get(int(cell))
            if rows is None or rows.size == 0:
                continue
            qr, qc = np.nonzero(cells == cell)
            for start in range(0, qr.size, _BLOCK):
                r, c = qr[start : start + _BLOCK], qc[start : start + _BLOCK]
                la, lo, sim = _retrieve(queries[r], rows, reference, neighbours, temperature)
                lats[r, c], lons[r, c], score[r, c], refined[r, c] = la, lo, sim, True
    weights = _reranked(probs, score, rerank)
    order = np.argsort(-weights, axis=1, kind="stable")
    out: list[list[Located]] = []
    for i in range(cells.shape[0]):
        row = []
        for j in order[i].tolist():
            value = None if np.isnan(score[i, j]) else float(score[i, j])
            row.append(
                Located(int(cells[i, j]), float(lats[i, j]), float(lons[i, j]),
                        float(weights[i, j]), bool(refined[i, j]), value)
            )  # fmt: skip
        out.append(row)
    return out


def _reranked(probs: FloatArray, score: FloatArray, rerank: float | None) -> FloatArray:
    """Cell weights after retrieval evidence, with the classifier's total mass per row."""
    if rerank is None or np.isnan(score).all():
        return np.asarray(probs, dtype=np.float64)
    s = np.where(np.isnan(score), np.nanmin(score, axis=1, keepdims=True), score)
    s = np.nan_to_num(s, nan=0.0)
    logits = np.log(np.maximum(probs, 1e-300)) + (s - s.max(axis=1, keepdims=True)) / rerank
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(w / w.sum(axis=1, keepdims=True) * probs.sum(axis=1, keepdims=True))


def _retrieve(
    queries: F32,
    rows: NDArray[np.intp],
    reference: Reference,
    neighbours: int,
    temperature: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted medoid of the nearest training points of one cell and the mean similarity
    of the best of them, per query."""
    sims = queries @ reference.embeddings[rows].T  # (q, m)
    k = min(neighbours, rows.size)
    if k < rows.size:
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(rows.size), (queries.shape[0], rows.size))
    s = np.take_along_axis(sims, top, axis=1).astype(np.float64)
    w = np.exp((s - s.max(axis=1, keepdims=True)) / temperature)
    la, lo = reference.lats[rows][top], reference.lons[rows][top]  # (q, k)
    d = np.asarray(haversine_km(la[:, :, None], lo[:, :, None], la[:, None, :], lo[:, None, :]))
    best = np.argmin(np.einsum("qij,qj->qi", d, w), axis=1)
    pick = np.arange(queries.shape[0])
    scored = np.sort(s, axis=1)[:, -_SCORED:].mean(axis=1)
    return la[pick, best], lo[pick, best], scored
