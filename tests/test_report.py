"""The run report: markdown with the numbers, valid PNG figures, the HTML map, missing extras."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ethan.eval.report as report_module
from ethan.eval.metrics import Metrics, Record, score
from ethan.eval.plots import error_segments, land_rings
from ethan.eval.report import write_report
from ethan.geo import EARTH_RADIUS_KM
from ethan.types import Status

KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
CONFIG = {"model": "gpt-4o", "template": "cot", "samples": 3, "note": "a|b"}


def _records() -> list[Record]:
    out = []
    for i, km in enumerate([0.5, 12, 150, 600, 2000, 9000, 300, 40]):
        lat, lon = -60.0 + 8 * i, -170.0 + 45 * i
        out.append(
            Record(
                id=f"{i}.jpg",
                true_lat=lat,
                true_lon=lon,
                status=Status.OK,
                lat=lat + km / KM_PER_DEGREE,
                lon=lon,
            )
        )
    out.append(Record(id="r.jpg", true_lat=10, true_lon=10, status=Status.REFUSED))
    out.append(Record(id="u.jpg", true_lat=20, true_lon=20, status=Status.UNPARSED))
    # across the date line
    out.append(
        Record(id="dl.jpg", true_lat=0, true_lon=179.5, status=Status.OK, lat=0.5, lon=-179.5)
    )
    return out


@pytest.fixture(scope="module")
def scored() -> tuple[list[Record], Metrics]:
    records = _records()
    return records, score(records, bootstrap=200, geography=False)


def _is_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_report_files_exist_and_images_are_valid(
    tmp_path: Path, scored: tuple[list[Record], Metrics]
) -> None:
    pytest.importorskip("matplotlib")
    records, m = scored
    files = write_report(tmp_path / "run", m, records, CONFIG)
    names = [p.name for p in files]
    assert names[:3] == ["report.md", "errors_cdf.png", "map.png"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in files)
    w, h = _is_png(tmp_path / "run" / "errors_cdf.png")
    assert w > 600 and h > 400
    w, h = _is_png(tmp_path / "run" / "map.png")
    assert w > 1000 and 0.4 < h / w < 0.7  # a world map is about twice as wide as high
    if report_module.folium_available():
        assert names[3] == "map.html"
        html = (tmp_path / "run" / "map.html").read_text(encoding="utf-8")
        assert "leaflet" in html.lower() and "dl.jpg" in html


def test_report_markdown_holds_the_numbers(
    tmp_path: Path, scored: tuple[list[Record], Metrics]
) -> None:
    records, m = scored
    write_report(tmp_path, m, records, CONFIG)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert m.n == 11 and m.answered == 9
    # 9 answered: errors 0.5, 12, 150, 600, 2000, 9000, 300, 40 and 124 km (date line)
    assert "| answered | 9 | 81.8% |" in md
    assert "| refused | 1 | 9.1% |" in md
    assert "| unparsed | 1 | 9.1% |" in md
    assert "| error | 0 | 0.0% |" in md
    lo, hi = m.ci95["acc_km.25"]
    assert f"| 25 km | 18.2% [{100 * lo:.1f}%, {100 * hi:.1f}%] | 22.2% [" in md
    assert "| 1 km | 9.1% [" in md and "| 2500 km | 72.7% [" in md
    assert m.median_km is not None and m.median_km_answered is not None
    assert f"| median error | {m.median_km:,.1f} km [" in md
    assert f"| {m.median_km_answered:,.1f} km [" in md
    assert f"| GeoScore mean | {m.geoscore_mean:,.0f} [" in md
    assert "| model | gpt-4o |" in md and "| samples | 3 |" in md
    assert "| note | a\\|b |" in md  # a pipe cannot break the table
    assert "- refused (1): `r.jpg`" in md and "- unparsed (1): `u.jpg`" in md
    assert "Not computed (no reverse geocoding)" in md
    assert "20,015.1 km" in md


def test_report_with_geography_has_country_and_continent_tables(
    tmp_path: Path, scored: tuple[list[Record], Metrics]
) -> None:
    records, _ = scored
    base = score(records, bootstrap=0, geography=False)
    m = base.model_copy(
        update={
            "country_acc": 0.625,
            "continent_acc": 0.75,
            "ci95": {"country_acc": (0.5, 0.8)},
            "per_continent": {
                "EU": {"n": 7, "answered": 6, "acc_km.1": 0.0, "acc_km.25": 0.5,
                       "acc_km.200": 0.5, "acc_km.750": 0.75, "acc_km.2500": 1.0,
                       "median_km": 123.4, "geoscore_mean": 4000.0},
            },
        }
    )  # fmt: skip
    (tmp_path / "r").mkdir()
    write_report(tmp_path / "r", m, records, {})
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| country | 62.5% [50.0%, 80.0%] |" in md
    assert "| continent | 75.0% |" in md
    assert (
        "| Europe (EU) | 7 | 6 | 0.0% | 50.0% | 50.0% | 75.0% | 100.0% | 123.4 km | 4,000 |" in md
    )


def test_without_matplotlib_the_plots_are_skipped_with_a_hint(
    tmp_path: Path,
    scored: tuple[list[Record], Metrics],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    monkeypatch.setattr(report_module, "folium_available", lambda: False)
    records, m = scored
    with caplog.at_level(logging.WARNING, logger="ethan.eval.report"):
        files = write_report(tmp_path, m, records, CONFIG)
    assert [p.name for p in files] == ["report.md"]
    assert not (tmp_path / "errors_cdf.png").exists() and not (tmp_path / "map.html").exists()
    assert "pip install 'ethan-geo[plots]'" in caplog.text
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "matplotlib is not installed (`pip install 'ethan-geo[plots]'`)" in md
    assert "folium is not installed (`pip install 'ethan-geo[maps]'`)" in md
    assert "errors_cdf.png" not in md


def test_error_lines_cross_the_date_line_the_short_way() -> None:
    segs = error_segments(
        np.array([0.0, 10.0]),
        np.array([179.0, 0.0]),
        np.array([2.0, 20.0]),
        np.array([-179.0, 10.0]),
    )
    assert segs[0] == [(179.0, 0.0), (180.0, pytest.approx(1.0))]
    assert segs[1] == [(-180.0, pytest.approx(1.0)), (-179.0, 2.0)]
    assert segs[2] == [(0.0, 10.0), (10.0, 20.0)]
    back = error_segments(np.array([0.0]), np.array([-170.0]), np.array([0.0]), np.array([170.0]))
    assert [p[0] for seg in back for p in seg] == [-170.0, -180.0, 180.0, 170.0]


def test_country_outlines_are_lon_lat_rings() -> None:
    rings = land_rings()
    if not rings:
        pytest.skip("no country polygons installed")
    pts = np.concatenate(rings)
    assert pts.shape[1] == 2 and len(rings) > 200
    assert pts[:, 0].min() >= -180 and pts[:, 0].max() <= 180
    assert pts[:, 0].max() - pts[:, 0].min() > 350  # x is the longitude: it spans the globe
    assert pts[:, 1].min() >= -90 and pts[:, 1].max() < 85  # y: no land north of 84°N
