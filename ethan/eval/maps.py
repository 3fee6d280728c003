"""Interactive HTML map of a run (folium, optional: ``pip install 'ethan-geo[maps]'``)."""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from ethan.errors import MissingDependencyError
from ethan.eval.metrics import Record, distances_km

MAPS_HINT = "pip install 'ethan-geo[maps]'"
MAX_HTML_POINTS = 5000  # larger runs show their first images only (the file stays small)


def folium_available() -> bool:
    return importlib.util.find_spec("folium") is not None


def write_html_map(
    records: Sequence[Record], path: Path, *, max_points: int = MAX_HTML_POINTS
) -> Path:
    """Truth and prediction markers joined by lines; a popup gives the id and the error.

    Only the first ``max_points`` records are drawn. Raises
    :class:`~ethan.errors.MissingDependencyError` without folium.
    """
    try:
        import folium
    except ImportError as exc:
        raise MissingDependencyError(f"the HTML map needs folium: {MAPS_HINT}") from exc
    shown = list(records[:max_points])
    d = distances_km(shown)
    fmap = folium.Map(location=[20.0, 0.0], zoom_start=2, world_copy_jump=True)
    truth = folium.FeatureGroup(name="truth")
    guess = folium.FeatureGroup(name="prediction")
    lines = folium.FeatureGroup(name="error lines")
    for r, km in zip(shown, d.tolist(), strict=True):
        name = html.escape(r.id)
        if r.lat is None or r.lon is None:
            popup = f"{name}<br>{r.status.value}: no prediction"
            folium.CircleMarker(
                [r.true_lat, r.true_lon], radius=4, color="#7f7f7f", fill=True, popup=popup
            ).add_to(truth)
            continue
        popup = f"{name}<br>error {km:,.1f} km"
        folium.CircleMarker(
            [r.true_lat, r.true_lon], radius=4, color="#1b7837", fill=True, popup=popup
        ).add_to(truth)
        folium.CircleMarker(
            [r.lat, r.lon], radius=4, color="#c51b7d", fill=True, popup=popup
        ).add_to(guess)
        lon = r.lon  # draw the short way round across the date line
        if lon - r.true_lon > 180:
            lon -= 360
        elif r.true_lon - lon > 180:
            lon += 360
        folium.PolyLine(  # type: ignore[no-untyped-call, unused-ignore]
            [[r.true_lat, r.true_lon], [r.lat, lon]], color="#555555", weight=1, opacity=0.6
        ).add_to(lines)
    for group in (lines, truth, guess):
        group.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    fmap.save(str(path))
    return path
