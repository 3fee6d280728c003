"""Interactive HTML maps (folium, optional: ``pip install 'ethan-geo[maps]'``): a scored run
(truth, prediction, error lines) and plain predictions (``ethan locate --map``: each answer
with its radius and alternatives).

Every line goes the short way round the globe: its far end is shifted by 360° when that is
shorter, so a miss across the Pacific crosses the date line instead of the whole map.
The page is self-contained (:mod:`ethan.eval.offline_html`): the data and Leaflet are inside
the file, so it opens with no network; only the map tiles come from it.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from ethan.errors import MissingDependencyError
from ethan.eval.metrics import Record, distances_km
from ethan.eval.offline_html import MAPS_HINT as MAPS_HINT
from ethan.eval.offline_html import bind, save_map
from ethan.geo import short_way_lon
from ethan.types import Prediction

if TYPE_CHECKING:
    from ethan.card import Reverse

MAX_HTML_POINTS = 5000  # larger runs show their first images only (the file stays small)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def folium_available() -> bool:
    """folium, and Leaflet to put inline (xstatic-leaflet): both come with the ``maps`` extra."""
    return _installed("folium") and _installed("xstatic.pkg.leaflet")


def require_folium() -> None:
    """Fail before a run, not after it, when the map it should draw cannot be drawn."""
    if not folium_available():
        raise MissingDependencyError(f"--map needs folium and xstatic-leaflet: {MAPS_HINT}")


def error_line(lat1: float, lon1: float, lat2: float, lon2: float) -> list[list[float]]:
    """``[[lat, lon], [lat, lon]]`` from the first point to the second, the short way."""
    return [[lat1, lon1], [lat2, short_way_lon(lon1, lon2)]]


def _folium() -> Any:
    try:
        import folium
    except ImportError as exc:
        raise MissingDependencyError(f"the HTML map needs folium: {MAPS_HINT}") from exc
    return folium


def write_html_map(
    records: Sequence[Record], path: Path, *, max_points: int = MAX_HTML_POINTS
) -> Path:
    """Truth and prediction markers joined by lines; a popup gives the id and the error.

    Only the first ``max_points`` records are drawn. Written atomically (a temporary file,
    then renamed). Raises :class:`~ethan.errors.MissingDependencyError` without folium or
    xstatic-leaflet.
    """
    folium = _folium()
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
            marker = folium.CircleMarker(
                [r.true_lat, r.true_lon], radius=4, color="#7f7f7f", fill=True
            ).add_to(truth)
            bind(marker, popup=popup)
            continue
        popup = f"{name}<br>error {km:,.1f} km"
        marker = folium.CircleMarker(
            [r.true_lat, r.true_lon], radius=4, color="#1b7837", fill=True
        ).add_to(truth)
        bind(marker, popup=popup)
        marker = folium.CircleMarker([r.lat, r.lon], radius=4, color="#c51b7d", fill=True)
        bind(marker.add_to(guess), popup=popup)
        folium.PolyLine(  # type: ignore[no-untyped-call, unused-ignore]
            error_line(r.true_lat, r.true_lon, r.lat, r.lon),
            color="#555555",
            weight=1,
            opacity=0.6,
        ).add_to(lines)
    for group in (lines, truth, guess):
        group.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return save_map(fmap, path)


def write_prediction_map(
    predictions: Iterable[Prediction],
    path: Path,
    *,
    max_points: int = MAX_HTML_POINTS,
    reverse: Reverse | None = None,
) -> Path:
    """Every answered image: a marker at the answer, a circle of its 90% radius, and its
    alternative places (smaller markers, joined to the answer by dashed lines, the short
    way round); a popup gives the place, the probabilities and an OpenStreetMap link. The
    images without an answer are listed in a box on the map.

    Only the first ``max_points`` answers are drawn. Written atomically (a temporary file,
    then renamed). Raises :class:`~ethan.errors.MissingDependencyError` without folium or
    xstatic-leaflet.
    """
    from ethan.card import options, osm_link

    folium = _folium()
    fmap = folium.Map(location=[20.0, 0.0], zoom_start=2, world_copy_jump=True)
    answers = folium.FeatureGroup(name="answers")
    radii = folium.FeatureGroup(name="90% radius")
    alternatives = folium.FeatureGroup(name="alternatives")
    failed: list[Prediction] = []
    drawn = 0
    points: list[tuple[float, float]] = []
    for p in predictions:
        if p.lat is None or p.lon is None:
            failed.append(p)
            continue
        if drawn >= max_points:
            continue
        drawn += 1
        name = html.escape(PurePath(p.image).name or p.image)
        places = options(p, reverse)
        best = places[0]
        radius = f"<br>90% within {p.radius_km:,.0f} km" if p.radius_km else ""
        others = "".join(f"<br>{html.escape(o.label)}: {o.probability:.0%}" for o in places[1:6])
        link = html.escape(osm_link(p.lat, p.lon, p.radius_km))
        popup = (
            f"<b>{name}</b><br>{html.escape(best.label)} ({best.probability:.0%})"
            f"<br>{p.lat:.5f}, {p.lon:.5f}{radius}{others}"
            f'<br><a href="{link}" target="_blank">OpenStreetMap</a>'
        )
        marker = folium.CircleMarker(
            [p.lat, p.lon], radius=6, color="#c51b7d", fill=True, fill_opacity=0.9
        ).add_to(answers)
        bind(marker, popup=popup, tooltip=name, max_width=320)
        points.append((p.lat, p.lon))
        if p.radius_km:
            folium.Circle(
                [p.lat, p.lon], radius=p.radius_km * 1000.0, color="#c51b7d", weight=1,
                fill=True, fill_opacity=0.08, dash_array="4",
            ).add_to(radii)  # fmt: skip
        for other in places[1:]:
            lat, lon = error_line(p.lat, p.lon, other.lat, other.lon)[1]
            folium.PolyLine(  # type: ignore[no-untyped-call, unused-ignore]
                [[p.lat, p.lon], [lat, lon]], color="#7f7f7f", weight=1, dash_array="4"
            ).add_to(alternatives)
            marker = folium.CircleMarker([lat, lon], radius=4, color="#7f7f7f", fill=True)
            tip = f"{name}: {html.escape(other.label)} {other.probability:.0%}"
            bind(marker.add_to(alternatives), tooltip=tip)
    for group in (radii, alternatives, answers):
        group.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    if failed:
        fmap.get_root().html.add_child(folium.Element(_failed_box(failed)))
    if points:
        lats = [lat for lat, _ in points]
        lons = [lon for _, lon in points]
        fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], max_zoom=8)
    return save_map(fmap, path)


def _failed_box(failed: list[Prediction], limit: int = 20) -> str:
    rows = "".join(
        f"<li>{html.escape(PurePath(p.image).name or p.image)}: {p.status.value}</li>"
        for p in failed[:limit]
    )
    more = f"<li>... and {len(failed) - limit} more</li>" if len(failed) > limit else ""
    return (
        '<div id="ethan-failed" style="position:fixed;bottom:12px;left:12px;z-index:9999;'
        "background:white;padding:6px 10px;border:1px solid #999;font:12px sans-serif;"
        f'max-height:40%;overflow:auto"><b>{len(failed)} without an answer</b>'
        f"<ul style='margin:4px 0;padding-left:16px'>{rows}{more}</ul></div>"
    )
