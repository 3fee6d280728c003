"""The HTML maps open with no network but for the tiles: Leaflet is inside the file, no other
script or stylesheet is loaded, and the page renders in a browser that cannot reach anything
(headless Chromium; those tests are skipped where no Chromium is installed)."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ethan import Prediction, Status
from ethan.errors import MissingDependencyError
from ethan.eval.maps import write_html_map, write_prediction_map
from ethan.eval.metrics import distances_km
from ethan.eval.offline_html import (
    external_references,
    js_string,
    leaflet_assets,
    self_contained,
)
from ethan.types import Hypothesis, PointSource
from tests.test_maps import PARIS, RECORDS, _answer_in_tokyo

pytest.importorskip("folium")
LEAFLET = pytest.importorskip("xstatic.pkg.leaflet").VERSION  # 1.9.3 today

TILES = "https://tile.openstreetmap.org/"
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)

# Runs before the page's own scripts: records every JS error and every failed load, then, on
# load, counts what Leaflet drew and hovers/clicks each vector layer to read its tooltip and
# popup. The result goes into <pre id="probe"> for --dump-dom.
PROBE = """
window.__probe = {errors: [], failed: []};
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) { __probe.failed.push(t.src || t.href); return; }
  __probe.errors.push(String(e.message));
}, true);
window.addEventListener("unhandledrejection", function (e) {
  __probe.errors.push(String(e.reason));
});
console.error = function () { __probe.errors.push(Array.prototype.join.call(arguments, " ")); };
window.addEventListener("load", function () {
  var q = function (s) { return document.querySelectorAll(s); };
  var r = __probe;
  r.leaflet = window.L ? L.version : null;
  r.paths = q(".leaflet-overlay-pane path").length;
  r.icons = q(".leaflet-marker-icon").length;
  r.overlays = Array.prototype.map.call(
    q(".leaflet-control-layers-overlays label"), function (l) { return l.textContent.trim(); });
  var box = document.getElementById("ethan-failed");
  r.failed_box = box ? box.textContent : null;
  r.popups = []; r.links = []; r.tooltips = [];
  q(".leaflet-overlay-pane path.leaflet-interactive").forEach(function (p) {
    var b = p.getBoundingClientRect();
    var at = {bubbles: true, cancelable: true, view: window,
              clientX: b.left + b.width / 2, clientY: b.top + b.height / 2};
    var tips = q(".leaflet-tooltip").length;  // closed ones linger (a fade-out timer)
    p.dispatchEvent(new MouseEvent("mouseover", at));
    var now = q(".leaflet-tooltip");
    if (now.length > tips) r.tooltips.push(now[now.length - 1].textContent.trim());
    p.dispatchEvent(new MouseEvent("mouseout", at));
    var pops = q(".leaflet-popup-content").length;
    p.dispatchEvent(new MouseEvent("click", at));
    now = q(".leaflet-popup-content");
    if (now.length > pops) {
      var content = now[now.length - 1];
      r.popups.push(content.textContent);
      var a = content.querySelector("a");
      if (a) r.links.push(a.href);
      q(".leaflet-popup-close-button")[now.length - 1].click();
    }
  });
  r.resources = performance.getEntriesByType("resource").map(function (e) { return e.name; });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
});
"""


def _render_offline(page: Path, workdir: Path) -> dict[str, Any]:
    """Load the page in headless Chromium with every network request sent to a dead proxy."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    probed = workdir / f"probed-{page.name}"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", f"<head>\n<script>{PROBE}</script>", 1), "utf-8")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={workdir / 'chromium-profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the probe did not report (rc {done.returncode}): {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(htmllib.unescape(found.group(1)))
    return result


def _predictions() -> list[Prediction]:
    return [
        _answer_in_tokyo(),
        Prediction(image="photos/we`${1+1}`ird.jpg", status=Status.OK, lat=PARIS[0],
                   lon=PARIS[1], hypotheses=[Hypothesis(lat=PARIS[0], lon=PARIS[1], city="Paris",
                                             country="France", source=PointSource.GEOCODED)]),
        Prediction(image="photos/blurry.jpg", status=Status.UNPARSED, message="no guess"),
    ]  # fmt: skip


def _assert_self_contained(page: str) -> None:
    assert external_references(page) == []
    assert not re.search(r"<script[^>]*\bsrc=", page) and not re.search(r"<link[^>]*href=", page)
    assert f"Leaflet {LEAFLET}, a JS library for interactive maps" in page  # its banner
    assert f't.version="{LEAFLET}"' in page  # Leaflet's code itself, not a reference to it
    assert ".leaflet-container" in page and "data:image/png;base64," in page  # its CSS
    assert "sourceMappingURL" not in page
    assert "$(" not in page.replace(leaflet_assets()[0], ""), "jQuery is not there to call"
    assert f'"{TILES}{{z}}/{{x}}/{{y}}.png"' in page  # the one thing left on the network


def test_the_prediction_map_is_self_contained(tmp_path: Path) -> None:
    page = write_prediction_map(_predictions(), tmp_path / "answers.html")
    _assert_self_contained(page.read_text(encoding="utf-8"))
    assert [p.name for p in tmp_path.iterdir()] == ["answers.html"]


def test_the_eval_map_is_self_contained_and_written_atomically(tmp_path: Path) -> None:
    old = tmp_path / "map.html"
    old.write_text("the previous map", encoding="utf-8")
    write_html_map(RECORDS, old)
    _assert_self_contained(old.read_text(encoding="utf-8"))
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_folium_pages_reference_cdns_and_the_rewrite_drops_them() -> None:
    import folium

    page = folium.Map().get_root().render()
    before = external_references(page)
    assert any("leaflet" in url for url in before) and any("jquery" in url for url in before)
    after = self_contained(page)
    assert external_references(after) == []
    head = after[: after.index("</head>")]
    # Leaflet's stylesheet comes before folium's own styles, which override it
    assert head.index(".leaflet-container {") < head.index(".leaflet-container { font-size")


def test_text_in_the_page_script_cannot_close_it_or_run() -> None:
    literal = js_string("a</script><!--`${x}`\u2028")
    assert "</" not in literal and "<!--" not in literal
    assert json.loads(literal.replace("<\\/", "</")) == "a</script><!--`${x}`\u2028"


def test_without_xstatic_leaflet_the_map_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ethan.eval import maps, offline_html

    offline_html.leaflet_assets.cache_clear()
    monkeypatch.setitem(sys.modules, "xstatic.pkg.leaflet", None)
    try:
        with pytest.raises(MissingDependencyError, match=r"xstatic-leaflet.*ethan-geo\[maps\]"):
            write_prediction_map([_answer_in_tokyo()], tmp_path / "m.html")
        with pytest.raises(MissingDependencyError, match="xstatic-leaflet"):
            maps.require_folium()
    finally:
        offline_html.leaflet_assets.cache_clear()
    assert not list(tmp_path.iterdir())


def _assert_only_tiles_requested(seen: dict[str, Any]) -> None:
    for url in seen["failed"] + seen["resources"]:
        assert url.startswith(TILES), f"the page asked the network for {url}"
    assert seen["failed"], "the tiles were requested (and failed, with no network)"


def test_the_prediction_map_renders_offline(tmp_path: Path) -> None:
    page = write_prediction_map(_predictions(), tmp_path / "answers.html")
    seen = _render_offline(page, tmp_path)
    assert seen["errors"] == []
    assert seen["leaflet"] == LEAFLET
    # Tokyo: its marker, its radius, the line to Los Angeles and that marker; Paris: a marker
    assert seen["paths"] == 5 and seen["icons"] == 0
    assert seen["overlays"] == ["90% radius", "alternatives", "answers"]
    assert seen["failed_box"] == "1 without an answerblurry.jpg: unparsed"
    assert sorted(seen["tooltips"]) == [
        "shibuya.jpg",
        "shibuya.jpg: Los Angeles, United States 30%",
        "we`${1+1}`ird.jpg",
    ]
    tokyo, paris = sorted(seen["popups"], key=lambda text: "Tokyo" not in text)
    assert tokyo.startswith("shibuya.jpgTokyo, Japan (70%)35.68950, 139.69170")
    assert "90% within 8,800 km" in tokyo and "Los Angeles, United States: 30%" in tokyo
    assert paris.startswith("we`${1+1}`ird.jpgParis, France (100%)")
    assert any(link.startswith("https://www.openstreetmap.org/?mlat=35.68950&mlon=139.69170")
               for link in seen["links"])  # fmt: skip
    _assert_only_tiles_requested(seen)


def test_the_eval_map_renders_offline(tmp_path: Path) -> None:
    page = write_html_map(RECORDS, tmp_path / "map.html")
    seen = _render_offline(page, tmp_path)
    assert seen["errors"] == []
    # three truths (one without a prediction), two predictions, two error lines
    assert seen["paths"] == 7 and seen["icons"] == 0
    assert seen["overlays"] == ["error lines", "truth", "prediction"]
    pacific_km, france_km, _ = distances_km(RECORDS).tolist()
    assert 8000 < pacific_km < 8500 and 350 < france_km < 450
    france, pacific = (
        f"france.jpgerror {france_km:,.1f} km",
        f"pacific.jpgerror {pacific_km:,.1f} km",
    )
    assert sorted(seen["popups"]) == [  # a truth and its prediction share the popup
        france,
        france,
        pacific,
        pacific,
        "refused.jpgrefused: no prediction",
    ]
    _assert_only_tiles_requested(seen)


def test_the_probe_sees_a_page_that_needs_the_network(tmp_path: Path) -> None:
    """folium's own page, with its CDN scripts out of reach, draws nothing and fails."""
    import folium

    fmap = folium.Map()
    folium.CircleMarker([0.0, 0.0], radius=4, popup="x").add_to(fmap)
    page = tmp_path / "cdn.html"
    fmap.save(str(page))
    seen = _render_offline(page, tmp_path)
    assert seen["leaflet"] is None and seen["paths"] == 0
    assert any("L is not defined" in error for error in seen["errors"])
    assert any("leaflet" in url for url in seen["failed"])
