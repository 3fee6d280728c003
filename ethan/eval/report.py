"""A run's human-readable report: ``report.md`` with its figures next to it.

Figures: ``errors_cdf.png`` and ``map.png`` need matplotlib (``pip install 'ethan-geo[plots]'``),
``map.html`` needs folium (``pip install 'ethan-geo[maps]'``); whatever is missing is skipped
with a logged warning and a note in the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ethan.errors import MissingDependencyError
from ethan.eval.maps import MAPS_HINT, MAX_HTML_POINTS, folium_available, write_html_map
from ethan.eval.metrics import MAX_KM, Metrics, Record
from ethan.eval.plots import PLOTS_HINT, plot_error_cdf, plot_world_map
from ethan.types import Status

log = logging.getLogger(__name__)

REPORT = "report.md"
CDF_PNG = "errors_cdf.png"
MAP_PNG = "map.png"
MAP_HTML = "map.html"
CONTINENTS = {
    "AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
    "NA": "North America", "OC": "Oceania", "SA": "South America", "unknown": "at sea / unknown",
}  # fmt: skip
_LISTED_IDS = 20
DASH = "–"


# -- formatting shared with ethan.eval.compare ---------------------------------------------


def pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def km(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f} km"


def points(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def with_ci(
    value: float | None, ci: tuple[float, float] | None, fmt: Callable[[float | None], str]
) -> str:
    """``31.5% [25.0%, 37.5%]``: the value and its 95% interval, when there is one."""
    if value is None or ci is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def cell(value: Any) -> str:
    """A value as a markdown table cell (pipes escaped, one line)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def metric_rows(m: Metrics) -> list[tuple[str, str]]:
    """Every headline metric as (label, formatted value with its CI)."""
    ci = m.ci95.get
    rows = [
        ("images", str(m.n)),
        ("answered (coverage)", f"{m.answered} ({pct(m.coverage)})"),
        ("refused", str(m.refused)),
        ("unparsed", str(m.unparsed)),
        ("errors", str(m.errors)),
    ]
    rows += [(f"acc@{k} km", with_ci(v, ci(f"acc_km.{k}"), pct)) for k, v in m.acc_km.items()]
    rows += [
        (
            f"acc@{k} km, answered",
            with_ci(m.acc_km_answered.get(k), ci(f"acc_km_answered.{k}"), pct),
        )
        for k in m.acc_km
    ]
    rows += [
        ("median error", with_ci(m.median_km, ci("median_km"), km)),
        ("mean error", km(m.mean_km)),
        ("median error, answered", with_ci(m.median_km_answered, ci("median_km_answered"), km)),
        ("mean error, answered", km(m.mean_km_answered)),
        ("GeoScore mean", with_ci(m.geoscore_mean, ci("geoscore_mean"), points)),
        ("GeoScore median", points(m.geoscore_median)),
        (
            "GeoScore mean, answered",
            with_ci(m.geoscore_mean_answered, ci("geoscore_mean_answered"), points),
        ),
        ("country accuracy", with_ci(m.country_acc, ci("country_acc"), pct)),
        ("continent accuracy", with_ci(m.continent_acc, ci("continent_acc"), pct)),
    ]
    return rows


CONVENTIONS = (
    f"Unanswered images (refused, unparsed, error) count as misses in every accuracy, at "
    f"{MAX_KM:,.1f} km (half the Earth's circumference) in the all-images median and mean, "
    'and as 0 in the GeoScore (5000·exp(−d/1492.7 km)); "answered" rows leave them out. '
    "A hit at t km means an error of at most t km. Country and continent accuracy compare the "
    "offline reverse-geocoded truth and prediction; images whose truth has no country "
    "(open sea) are left out of their denominator. Brackets: 95% bootstrap intervals."
)


# -- the report ------------------------------------------------------------------------------


def write_report(
    run_dir: Path, metrics: Metrics, records: Sequence[Record], config: Mapping[str, Any]
) -> list[Path]:
    """Write ``report.md`` and the figures the installed extras allow; return the files."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    notes: list[str] = []
    try:
        written.append(plot_error_cdf(records, run_dir / CDF_PNG))
        written.append(plot_world_map(records, run_dir / MAP_PNG))
    except MissingDependencyError:
        log.warning("matplotlib is not installed: no plots (%s)", PLOTS_HINT)
        notes.append(f"Plots skipped: matplotlib is not installed (`{PLOTS_HINT}`).")
    if folium_available():
        written.append(write_html_map(records, run_dir / MAP_HTML))
        if len(records) > MAX_HTML_POINTS:
            notes.append(f"The interactive map shows the first {MAX_HTML_POINTS:,} images.")
    else:
        notes.append(f"No interactive map: folium is not installed (`{MAPS_HINT}`).")
    names = {p.name for p in written}
    path = run_dir / REPORT
    path.write_text(report_markdown(metrics, records, config, names, notes), encoding="utf-8")
    return [path, *written]


def report_markdown(
    m: Metrics,
    records: Sequence[Record],
    config: Mapping[str, Any],
    figures: set[str] | frozenset[str] = frozenset(),
    notes: Sequence[str] = (),
) -> str:
    out = ["# Evaluation report", ""]
    if config:
        out += ["## Run", ""]
        out += table(["setting", "value"], [[cell(k), cell(v)] for k, v in config.items()])
        out.append("")
    out += _coverage(m) + _accuracy(m) + _errors(m) + _geography(m) + _per_continent(m)
    out += ["## Figures", ""]
    if CDF_PNG in figures:
        out += [f"![cumulative error distance]({CDF_PNG})", ""]
    if MAP_PNG in figures:
        out += [f"![truth vs prediction]({MAP_PNG})", ""]
    if MAP_HTML in figures:
        out += [f"Interactive map: [{MAP_HTML}]({MAP_HTML})", ""]
    out += [f"*{note}*\n" for note in notes]
    out += _unanswered(records)
    out += ["## How to read this", "", CONVENTIONS, ""]
    return "\n".join(out)


def _coverage(m: Metrics) -> list[str]:
    rows = [
        [label, str(count), pct(count / m.n)]
        for label, count in (
            ("answered", m.answered),
            ("refused", m.refused),
            ("unparsed", m.unparsed),
            ("error", m.errors),
        )
    ]
    rows.append(["**total**", str(m.n), pct(1.0)])
    return ["## Coverage", "", *table(["status", "images", "share"], rows), ""]


def _accuracy(m: Metrics) -> list[str]:
    rows = [
        [
            f"{k} km",
            with_ci(v, m.ci95.get(f"acc_km.{k}"), pct),
            with_ci(m.acc_km_answered.get(k), m.ci95.get(f"acc_km_answered.{k}"), pct),
        ]
        for k, v in m.acc_km.items()
    ]
    header = ["within", f"all images (n={m.n})", f"answered only (n={m.answered})"]
    return ["## Accuracy", "", *table(header, rows), ""]


def _errors(m: Metrics) -> list[str]:
    ci = m.ci95.get
    rows = [
        ["median error", with_ci(m.median_km, ci("median_km"), km),
         with_ci(m.median_km_answered, ci("median_km_answered"), km)],
        ["mean error", km(m.mean_km), km(m.mean_km_answered)],
        ["GeoScore mean", with_ci(m.geoscore_mean, ci("geoscore_mean"), points),
         with_ci(m.geoscore_mean_answered, ci("geoscore_mean_answered"), points)],
        ["GeoScore median", points(m.geoscore_median), DASH],
    ]  # fmt: skip
    return [
        "## Error distance and GeoScore",
        "",
        *table(["", "all images", "answered only"], rows),
        "",
    ]


def _geography(m: Metrics) -> list[str]:
    if m.country_acc is None and m.continent_acc is None:
        return ["## Country and continent", "", "Not computed (no reverse geocoding).", ""]
    rows = [
        ["country", with_ci(m.country_acc, m.ci95.get("country_acc"), pct)],
        ["continent", with_ci(m.continent_acc, m.ci95.get("continent_acc"), pct)],
    ]
    return ["## Country and continent", "", *table(["accuracy", "all images"], rows), ""]


def _per_continent(m: Metrics) -> list[str]:
    if not m.per_continent:
        return []
    keys = list(m.acc_km)
    header = ["true continent", "images", "answered", *(f"acc@{k} km" for k in keys)]
    header += ["median error", "GeoScore mean"]
    rows = []
    for code, row in m.per_continent.items():
        rows.append(
            [f"{CONTINENTS.get(code, code)} ({code})", str(row["n"]), str(row.get("answered", ""))]
            + [pct(float(row[f"acc_km.{k}"])) for k in keys]
            + [km(float(row["median_km"])), points(float(row["geoscore_mean"]))]
        )
    return ["## Per continent", "", *table(header, rows), ""]


def _unanswered(records: Sequence[Record]) -> list[str]:
    out: list[str] = []
    for status in (Status.REFUSED, Status.UNPARSED, Status.ERROR):
        ids = [r.id for r in records if r.status is status]
        if not ids:
            continue
        shown = ", ".join(f"`{i}`" for i in ids[:_LISTED_IDS])
        more = f" and {len(ids) - _LISTED_IDS} more" if len(ids) > _LISTED_IDS else ""
        out.append(f"- {status.value} ({len(ids)}): {shown}{more}")
    return ["## Unanswered images", "", *out, ""] if out else []
