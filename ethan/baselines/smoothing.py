"""Training targets over geocells: PIGEON's haversine label smoothing, and one-hot.

For an image at x whose true cell is n, with cell centroids g_i, haversine smoothing gives

    y_i = exp(-(Hav(g_i, x) - Hav(g_n, x)) / tau)

and the loss is ``-sum_i y_i log p_i``: a cell near the true location is a smaller mistake
than one across the world. Computed in log space: the exponents are bounded above before
``exp`` (``normalize=False``), or shifted by their maximum and divided by their sum so each
row is a distribution (``normalize=True``, the default; this equals ``softmax(-Hav/tau)``
because the shift cancels). ``tau`` is in km. One-hot targets are the ablation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ethan.errors import ConfigError
from ethan.geo import FloatArray, haversine_km

Smoothing = Literal["haversine", "onehot"]
_MAX_EXPONENT = 60.0  # exp(60) ~ 1e26: finite in float32 and float64


def haversine_targets(
    lats: ArrayLike,
    lons: ArrayLike,
    labels: ArrayLike,
    cell_lats: ArrayLike,
    cell_lons: ArrayLike,
    tau_km: float,
    *,
    normalize: bool = True,
) -> FloatArray:
    """(n, cells) smoothed targets for points at (lats, lons) whose true cells are ``labels``."""
    if not tau_km > 0:
        raise ConfigError(f"tau must be a positive number of km, got {tau_km}")
    la = np.asarray(lats, dtype=np.float64).reshape(-1, 1)
    lo = np.asarray(lons, dtype=np.float64).reshape(-1, 1)
    cla = np.asarray(cell_lats, dtype=np.float64).reshape(1, -1)
    clo = np.asarray(cell_lons, dtype=np.float64).reshape(1, -1)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    _check_labels(y, la.shape[0], cla.shape[1])
    d = np.asarray(haversine_km(la, lo, cla, clo), dtype=np.float64)
    exponent = -(d - d[np.arange(y.size), y][:, None]) / tau_km
    if normalize:
        exponent -= exponent.max(axis=1, keepdims=True)
        out = np.exp(exponent)
        out /= out.sum(axis=1, keepdims=True)
        return out
    return np.exp(np.minimum(exponent, _MAX_EXPONENT))


def onehot_targets(labels: ArrayLike, cells: int) -> FloatArray:
    """(n, cells) one-hot targets."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    _check_labels(y, y.size, cells)
    out = np.zeros((y.size, cells), dtype=np.float64)
    out[np.arange(y.size), y] = 1.0
    return out


def soft_cross_entropy(log_probs: ArrayLike, targets: ArrayLike) -> float:
    """Mean over rows of ``-sum_i y_i log p_i`` (a numpy reference for the torch loss)."""
    lp = np.asarray(log_probs, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    return float(-(t * lp).sum(axis=1).mean())


def _check_labels(labels: np.ndarray, rows: int, cells: int) -> None:
    if labels.size != rows:
        raise ConfigError(f"{labels.size} labels for {rows} points")
    if cells < 1:
        raise ConfigError("no geocells")
    if labels.size and (labels.min() < 0 or labels.max() >= cells):
        raise ConfigError(f"labels must be cell indices in [0, {cells})")
