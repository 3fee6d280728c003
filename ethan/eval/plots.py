"""Static figures of a run (matplotlib, Agg canvas, no pyplot state): the cumulative error
distance and a world map of truth vs prediction.

matplotlib is optional (``pip install 'ethan-geo[plots]'``); without it the functions raise
:class:`~ethan.errors.MissingDependencyError`.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ethan.errors import MissingDependencyError
from ethan.eval.metrics import MAX_KM, THRESHOLDS_KM, Record, distances_km, threshold_key
from ethan.geo import FloatArray

log = logging.getLogger(__name__)

PLOTS_HINT = "pip install 'ethan-geo[plots]'"
_MIN_KM = 0.1  # left edge of the log axis; smaller errors are drawn there
_TRUTH = "#1b7837"
_GUESS = "#c51b7d"
_MISSED = "#7f7f7f"


def _figure(width: float, height: float) -> Any:
    """A figure on an Agg canvas (no global backend switch, no pyplot)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"plots need matplotlib: {PLOTS_HINT}") from exc
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def plot_error_cdf(
    records: Sequence[Record], path: Path, *, thresholds: Sequence[float] = THRESHOLDS_KM
) -> Path:
    """Share of *all* images within each error distance (log km); unanswered images never
    arrive, so the curve levels off at the coverage."""
    fig = _figure(8.0, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    d = distances_km(records)
    n = d.size
    answered = np.sort(d[~np.isnan(d)])
    x = np.concatenate([[_MIN_KM], np.clip(answered, _MIN_KM, None), [MAX_KM]])
    y = np.concatenate([[0.0], np.arange(1, answered.size + 1) / max(n, 1)])
    y = np.concatenate([y, [y[-1]]])
    ax.step(x, y, where="post", color=_GUESS, linewidth=1.8, label="images within distance")
    coverage = answered.size / max(n, 1)
    ax.axhline(coverage, color=_MISSED, linestyle=":", linewidth=1.0)
    ax.annotate(
        f"answered {coverage:.1%}", (_MIN_KM * 1.2, coverage), xytext=(0, -11),
        textcoords="offset points", fontsize=8, color=_MISSED,
    )  # fmt: skip
    for t in thresholds:
        ax.axvline(float(t), color="#444444", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"{threshold_key(t)} km", (float(t), 1.0), xytext=(3, -12),
            textcoords="offset points", fontsize=8, rotation=90, va="top",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(_MIN_KM, MAX_KM * 1.1)
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(_percent_formatter())
    ax.set_xlabel("error distance (km, log scale)")
    ax.set_ylabel("share of all images")
    ax.set_title(f"Cumulative error distance (n = {n})")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _percent_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)


def plot_world_map(records: Sequence[Record], path: Path) -> Path:
    """Equirectangular world map: true points, predicted points and thin lines between
    (the short way round: a line across the date line is cut there, see
    :func:`error_segments`)."""
    fig = world_map_figure(records)
    fig.savefig(path)
    return path


def world_map_figure(records: Sequence[Record]) -> Any:
    """The figure :func:`plot_world_map` saves (its error lines are ``ax.collections``'
    :class:`~matplotlib.collections.LineCollection`)."""
    from matplotlib.collections import LineCollection, PolyCollection

    fig = _figure(12.0, 6.6)
    ax = fig.add_subplot(1, 1, 1)
    rings = land_rings()
    if rings:
        ax.add_collection(
            PolyCollection(
                rings, facecolors="#ececec", edgecolors="#a0a0a0", linewidths=0.3, zorder=0
            )
        )
    _graticule(ax)
    true_lat = np.array([r.true_lat for r in records], dtype=np.float64)
    true_lon = np.array([r.true_lon for r in records], dtype=np.float64)
    ok = np.array([r.answered for r in records], dtype=bool)
    lat = np.array([r.lat if r.lat is not None else np.nan for r in records], dtype=np.float64)
    lon = np.array([r.lon if r.lon is not None else np.nan for r in records], dtype=np.float64)
    segments = error_segments(true_lat[ok], true_lon[ok], lat[ok], lon[ok])
    if segments:
        ax.add_collection(
            LineCollection(segments, colors=_MISSED, linewidths=0.5, alpha=0.6, zorder=2)
        )
    ax.scatter(true_lon[ok], true_lat[ok], s=9, c=_TRUTH, zorder=3, label="truth")
    ax.scatter(lon[ok], lat[ok], s=9, c=_GUESS, marker="^", zorder=4, label="prediction")
    if (~ok).any():
        ax.scatter(
            true_lon[~ok], true_lat[~ok], s=14, c=_MISSED, marker="x", zorder=3,
            label="truth (unanswered)",
        )  # fmt: skip
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xticks(range(-180, 181, 60))
    ax.set_yticks(range(-90, 91, 30))
    ax.tick_params(labelsize=8)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.set_title(f"Truth vs prediction ({int(ok.sum())} answered of {len(records)})")
    fig.tight_layout()
    return fig


def _graticule(ax: Any) -> None:
    for lon in range(-180, 181, 30):
        ax.axvline(lon, color="#d0d0d0", linewidth=0.4, zorder=1)
    for lat in range(-90, 91, 30):
        ax.axhline(lat, color="#b0b0b0" if lat == 0 else "#d0d0d0", linewidth=0.4, zorder=1)


def error_segments(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> list[list[tuple[float, float]]]:
    """(lon, lat) line segments from each truth to its prediction, the short way round:
    a line that crosses the date line is cut there into two pieces."""
    shift = np.where(lon2 - lon1 > 180, -360.0, np.where(lon1 - lon2 > 180, 360.0, 0.0))
    lon2u = lon2 + shift
    segments: list[list[tuple[float, float]]] = []
    for a, b, c, du, dd in zip(
        lat1.tolist(), lon1.tolist(), lat2.tolist(), lon2u.tolist(), lon2.tolist(), strict=True
    ):
        if du == dd:
            segments.append([(b, a), (dd, c)])
            continue
        edge = 180.0 if du > 180 else -180.0
        cross = a + (c - a) * (edge - b) / (du - b)
        segments.append([(b, a), (edge, cross)])
        segments.append([(-edge, cross), (dd, c)])
    return segments


@functools.lru_cache(maxsize=1)
def land_rings() -> list[FloatArray]:
    """Country outlines as (k, 2) arrays of (lon, lat), at full resolution (~370,000
    vertices: about a second to read and draw).

    They come from the Natural Earth admin-0 polygons that the offline reverse geocoder
    uses (the ``geo-intel-offline`` package); without them the map has a graticule only.
    """
    spec = importlib.util.find_spec("geo_intel_offline")
    if spec is None or spec.origin is None:
        return []
    try:
        with gzip.open(Path(spec.origin).parent / "data" / "polygons.json.gz", "rt") as fh:
            features: dict[str, dict[str, Any]] = json.load(fh)
        rings: list[FloatArray] = []
        for feature in features.values():
            parts = feature["exteriors"] if feature.get("multi") else [feature["exterior"]]
            for part in parts:
                ring = np.asarray(part, dtype=np.float64)
                if ring.ndim == 2 and ring.shape[0] >= 3 and ring.shape[1] == 2:
                    rings.append(np.ascontiguousarray(ring[:, ::-1]))  # (lat, lon) -> (lon, lat)
        return rings
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.debug("no country outlines for the map: %s", exc)
        return []
