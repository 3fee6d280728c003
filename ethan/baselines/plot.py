"""A PNG of a partition: country borders, cell outlines (S2), points coloured by cell and
the cell centroids, on a plain longitude/latitude map. Needs matplotlib (``.[plots]``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ethan.baselines.geocells import Partition
from ethan.errors import MissingDependencyError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_partition(
    partition: Partition,
    path: str | Path,
    *,
    lats: ArrayLike | None = None,
    lons: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    borders: bool = True,
    title: str | None = None,
) -> Path:
    """Draw the partition (and the training points, when given) to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(
            "plotting geocells needs matplotlib: pip install 'ethan-geo[plots]'"
        ) from None
    fig, ax = plt.subplots(figsize=(14, 7), dpi=110)
    try:
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
        ax.set_aspect("equal")
        ax.set_facecolor("#f4f8fb")
        if borders:
            _borders(ax)
        if partition.kind == "s2":
            _s2_outlines(ax, partition)
        colours = plt.get_cmap("tab20")
        if lats is not None and lons is not None:
            la = np.asarray(lats, dtype=np.float64)
            lo = np.asarray(lons, dtype=np.float64)
            lab = (
                np.asarray(labels, dtype=np.int64)
                if labels is not None
                else partition.assign(la, lo, fallback=False)
            )
            rgba = colours(np.where(lab >= 0, lab % 20, 0))
            rgba[:, 3] = np.where(lab >= 0, 0.8, 0.15)
            ax.scatter(lo, la, s=2 if la.size > 5000 else 5, c=rgba, linewidths=0)
        clat, clon = partition.centroids()
        ax.scatter(clon, clat, s=6, marker="x", c="black", linewidths=0.6)
        stats = partition.stats()
        ax.set_title(
            title
            or f"{partition.kind} geocells: {stats['cells']} cells, "
            f"{stats['smallest']}-{stats['largest']} training points per cell"
        )
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, bbox_inches="tight")
    finally:
        plt.close(fig)
    return target


def _borders(ax: Axes) -> None:
    for x, y in _border_lines():
        ax.plot(x, y, color="#8a9aa8", linewidth=0.3)


@functools.cache
def _border_lines() -> list[tuple[np.ndarray, np.ndarray]]:
    """(lons, lats) of every country's outer rings, simplified to 0.1 degree."""
    import shapely

    from ethan.geocode.borders import country_parts

    parts, _ = country_parts()
    polygons = shapely.get_parts(shapely.simplify(np.asarray(parts, dtype=object), 0.1))
    while True:  # a part can itself be a collection: flatten until only polygons remain
        nested = shapely.get_type_id(polygons) >= 4
        if not nested.any():
            break
        polygons = np.concatenate([polygons[~nested], shapely.get_parts(polygons[nested])])
    lines = []
    for polygon in polygons:
        if shapely.get_type_id(polygon) == 3:  # Polygon
            x, y = polygon.exterior.xy
            lines.append((np.asarray(x), np.asarray(y)))
    return lines


def _s2_outlines(ax: Axes, partition: Partition) -> None:
    from ethan.baselines import s2

    for cell in partition.cells:
        for token in cell.tokens:
            ring = s2.boundary(s2.from_token(token), steps=6)
            ring.append(ring[0])
            lat = np.asarray([p[0] for p in ring])
            lon = np.asarray([p[1] for p in ring])
            jumps = np.flatnonzero(np.abs(np.diff(lon)) > 180) + 1  # across the antimeridian
            for la, lo in zip(np.split(lat, jumps), np.split(lon, jumps), strict=True):
                ax.plot(lo, la, color="#c0392b", linewidth=0.4)
