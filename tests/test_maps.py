"""Maps draw every error line the short way round the globe (a miss across the Pacific
crosses the date line, not the whole map): the eval's map.png and map.html, and the
``ethan locate --map`` HTML map of predictions with their radius and alternatives."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ethan import Prediction, Status
from ethan.errors import MissingDependencyError
from ethan.eval.maps import error_line, write_html_map, write_prediction_map
from ethan.eval.metrics import Record
from ethan.geo import short_way_lon
from ethan.types import Hypothesis, PointSource

TOKYO = (35.6895, 139.6917)
SAN_FRANCISCO = (37.7749, -122.4194)
LOS_ANGELES = (34.0522, -118.2437)
PARIS, LYON = (48.8566, 2.3522), (45.7640, 4.8357)

RECORDS = [
    Record(id="pacific.jpg", true_lat=TOKYO[0], true_lon=TOKYO[1], status=Status.OK,
           lat=SAN_FRANCISCO[0], lon=SAN_FRANCISCO[1]),
    Record(id="france.jpg", true_lat=PARIS[0], true_lon=PARIS[1], status=Status.OK,
           lat=LYON[0], lon=LYON[1]),
    Record(id="refused.jpg", true_lat=0.0, true_lon=0.0, status=Status.REFUSED),
]  # fmt: skip


def _polylines(html: str) -> list[list[list[float]]]:
    found = re.findall(r"L\.polyline\(\s*(\[\[.*?\]\])\s*,", html, flags=re.S)
    return [json.loads(points) for points in found]


def test_short_way_longitudes() -> None:
    assert short_way_lon(139.6917, -122.4194) == pytest.approx(237.5806)
    assert short_way_lon(-170.0, 170.0) == -190.0
    assert short_way_lon(2.35, 4.84) == 4.84
    assert error_line(*TOKYO, *SAN_FRANCISCO) == [
        [TOKYO[0], TOKYO[1]], [SAN_FRANCISCO[0], pytest.approx(237.5806)]
    ]  # fmt: skip


def test_the_static_map_cuts_a_pacific_miss_at_the_date_line() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.collections import LineCollection

    from ethan.eval.plots import world_map_figure

    fig = world_map_figure(RECORDS)
    [lines] = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = [seg.tolist() for seg in lines.get_segments()]
    assert len(segments) == 3, "the Pacific line in two pieces, the French one whole"
    for seg in segments:
        assert abs(seg[-1][0] - seg[0][0]) <= 180, f"a line across the whole map: {seg}"
    east, west, france = segments
    assert east[0] == pytest.approx([TOKYO[1], TOKYO[0]]) and east[1][0] == 180.0
    assert west[0][0] == -180.0 and west[1] == pytest.approx([SAN_FRANCISCO[1], SAN_FRANCISCO[0]])
    assert east[1][1] == pytest.approx(west[0][1])  # they meet on the date line
    assert TOKYO[0] < east[1][1] < SAN_FRANCISCO[0]
    assert france[0] == pytest.approx([PARIS[1], PARIS[0]])
    assert france[1] == pytest.approx([LYON[1], LYON[0]])


def test_the_eval_html_map_draws_a_pacific_miss_the_short_way(tmp_path: Path) -> None:
    pytest.importorskip("folium")
    html = write_html_map(RECORDS, tmp_path / "map.html").read_text(encoding="utf-8")
    pacific, france = _polylines(html)
    assert pacific[0] == pytest.approx(list(TOKYO))
    assert pacific[1] == pytest.approx([SAN_FRANCISCO[0], SAN_FRANCISCO[1] + 360.0])
    assert abs(pacific[1][1] - pacific[0][1]) < 180
    assert france[0] == pytest.approx(list(PARIS)) and france[1] == pytest.approx(list(LYON))


def _answer_in_tokyo() -> Prediction:
    hyps = [
        Hypothesis(lat=TOKYO[0], lon=TOKYO[1], probability=0.7, city="Tokyo", country="Japan",
                   source=PointSource.GEOCODED),
        Hypothesis(lat=LOS_ANGELES[0], lon=LOS_ANGELES[1], probability=0.3, city="Los Angeles",
                   country="United States", source=PointSource.GEOCODED),
    ]  # fmt: skip
    return Prediction(image="photos/shibuya.jpg", status=Status.OK, lat=TOKYO[0], lon=TOKYO[1],
                      hypotheses=hyps, radius_km=8800.0, model="gpt-4o")  # fmt: skip


def test_the_prediction_map_shows_answers_radii_alternatives_and_failures(
    tmp_path: Path,
) -> None:
    pytest.importorskip("folium")
    predictions = [
        _answer_in_tokyo(),
        Prediction(image="photos/<odd>.jpg", status=Status.OK, lat=PARIS[0], lon=PARIS[1],
                   hypotheses=[Hypothesis(lat=PARIS[0], lon=PARIS[1], city="Paris",
                                          country="France", source=PointSource.GEOCODED)]),
        Prediction(image="photos/blurry.jpg", status=Status.UNPARSED, message="no guess"),
    ]  # fmt: skip
    path = write_prediction_map(predictions, tmp_path / "answers.html")
    assert path == tmp_path / "answers.html" and sorted(p.name for p in tmp_path.iterdir()) == [
        "answers.html"
    ]  # fmt: skip
    html = path.read_text(encoding="utf-8")
    [to_alternative] = _polylines(html)
    assert to_alternative[0] == pytest.approx(list(TOKYO))
    assert to_alternative[1] == pytest.approx([LOS_ANGELES[0], LOS_ANGELES[1] + 360.0])
    radii = re.findall(r'L\.circle\(\s*\[[^\]]*\],\s*\{[^}]*"radius": ([0-9.]+)', html)
    assert [float(r) for r in radii] == [8800000.0], "one radius: the Paris answer has none"
    assert "shibuya.jpg" in html and "Tokyo, Japan (70%)" in html
    assert "Los Angeles, United States: 30%" in html
    assert "https://www.openstreetmap.org/?mlat=35.68950&amp;mlon=139.69170" in html
    assert "&lt;odd&gt;.jpg" in html and "<odd>" not in html
    box = html[html.index('id="ethan-failed"') :]
    assert "1 without an answer" in box and "blurry.jpg: unparsed" in box


def test_without_folium_the_map_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "folium", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ethan-geo\[maps\]'"):
        write_prediction_map([_answer_in_tokyo()], tmp_path / "m.html")
    assert not list(tmp_path.iterdir())
