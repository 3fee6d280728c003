"""Several runs side by side, on the images they all share.

Pairwise statistics (A vs B, on the shared images):

* ``win_rate``: the share of images where A is strictly closer to the truth than B. An
  unanswered image is infinitely far; a tie (equal errors, or both unanswered) counts half,
  so ``win_rate(A, B) + win_rate(B, A) == 1``;
* ``median_diff_km``: median error of A minus that of B (unanswered at
  :data:`~ethan.eval.metrics.MAX_KM`, as in ``median_km``); negative means A is better;
* ``acc25_diff``: acc@25 km of A minus that of B (unanswered = miss);
* their 95% intervals come from a *paired* bootstrap: the same resampled images for A and B.

"Closest prediction" counts, per run, the images where it is the closest of all runs; tied
runs each get the image; an image no run answered counts for none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ethan.errors import ConfigError
from ethan.eval.metrics import (
    BoolArray,
    IndexArray,
    Metrics,
    Record,
    Statistic,
    bootstrap_ci,
    distances_km,
    filled_km,
    score,
)
from ethan.eval.report import DASH, metric_rows, pct, table
from ethan.geo import FloatArray

ID_COLUMNS = (
    "id", "image_id", "img_id", "filename", "file_name", "file", "image", "image_file",
    "image_path", "path", "photo", "name",
)  # fmt: skip
LAT_COLUMNS = ("lat", "latitude", "pred_lat", "predicted_lat", "lat_pred")
LON_COLUMNS = (
    "lon", "lng", "long", "longitude", "pred_lon", "pred_lng", "predicted_lon", "lon_pred",
)  # fmt: skip
_TRUTH_TOLERANCE_DEG = 1e-6


class PairStats(BaseModel):
    """Run ``a`` against run ``b`` on the shared images (see the module docstring)."""

    a: str
    b: str
    n: int
    win_rate: float
    median_diff_km: float
    median_diff_ci95: tuple[float, float]
    acc25_diff: float
    acc25_diff_ci95: tuple[float, float]


class Comparison(BaseModel):
    names: list[str]
    shared: int
    metrics: dict[str, Metrics]
    pairs: list[PairStats]
    closest: dict[str, int] = Field(default_factory=dict)


def compare(
    runs: Mapping[str, Sequence[Record]],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    geography: bool = True,
) -> Comparison:
    """Score every run on the ids they all share and compare each pair.

    Raises :class:`~ethan.errors.ConfigError` (a ``ValueError``) when a run repeats an id,
    when two runs disagree on the truth of a shared image, when they share no image, or
    when ``bootstrap < 1``.
    """
    if bootstrap < 1:
        raise ConfigError("compare needs bootstrap >= 1 for its intervals")
    if not runs:
        raise ConfigError("nothing to compare")
    names = list(runs)
    by_id = {name: _index(name, records) for name, records in runs.items()}
    common = set.intersection(*(set(m) for m in by_id.values()))
    shared_ids = [i for i in by_id[names[0]] if i in common]  # in the first run's order
    if not shared_ids:
        raise ConfigError(f"the runs share no image: {', '.join(names)}")
    restricted = {name: [by_id[name][i] for i in shared_ids] for name in names}
    _check_truth(restricted)
    metrics = {
        name: score(recs, bootstrap=bootstrap, seed=seed, geography=geography)
        for name, recs in restricted.items()
    }
    d = np.stack([distances_km(restricted[name]) for name in names])  # (runs, images)
    far = np.where(np.isnan(d), np.inf, d)
    pairs = [
        _pair(names[i], names[j], far[i], far[j], bootstrap, seed)
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]
    best = far.min(axis=0)
    closest = (far == best[None, :]) & np.isfinite(best)[None, :]
    return Comparison(
        names=names,
        shared=len(shared_ids),
        metrics=metrics,
        pairs=pairs,
        closest={name: int(closest[k].sum()) for k, name in enumerate(names)},
    )


def _index(name: str, records: Sequence[Record]) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for r in records:
        if r.id in out:
            raise ConfigError(f"run {name!r} has image {r.id!r} twice")
        out[r.id] = r
    return out


def _check_truth(runs: Mapping[str, list[Record]]) -> None:
    names = list(runs)
    first = runs[names[0]]
    for name in names[1:]:
        for a, b in zip(first, runs[name], strict=True):
            if (
                abs(a.true_lat - b.true_lat) > _TRUTH_TOLERANCE_DEG
                or abs(a.true_lon - b.true_lon) > _TRUTH_TOLERANCE_DEG
            ):
                raise ConfigError(
                    f"runs {names[0]!r} and {name!r} disagree on the truth of {a.id!r}: "
                    f"({a.true_lat}, {a.true_lon}) vs ({b.true_lat}, {b.true_lon})"
                )


def _pair(a: str, b: str, da: FloatArray, db: FloatArray, bootstrap: int, seed: int) -> PairStats:
    """``da``/``db``: errors with unanswered = inf."""
    win = float(np.mean((da < db) + 0.5 * (da == db)))
    fa, fb = (
        filled_km(np.where(np.isinf(da), np.nan, da)),
        filled_km(np.where(np.isinf(db), np.nan, db)),
    )
    ha, hb = da <= 25.0, db <= 25.0

    def median_diff(idx: IndexArray) -> FloatArray:
        return np.asarray(np.median(fa[idx], axis=1) - np.median(fb[idx], axis=1))

    def acc_diff(idx: IndexArray) -> FloatArray:
        return np.asarray(_share(ha[idx]) - _share(hb[idx]))

    stats: dict[str, Statistic] = {"median": median_diff, "acc25": acc_diff}
    ci = bootstrap_ci(da.size, stats, bootstrap=bootstrap, seed=seed)
    return PairStats(
        a=a,
        b=b,
        n=int(da.size),
        win_rate=win,
        median_diff_km=float(np.median(fa) - np.median(fb)),
        median_diff_ci95=ci["median"],
        acc25_diff=float(ha.mean() - hb.mean()),
        acc25_diff_ci95=ci["acc25"],
    )


def _share(hits: BoolArray) -> FloatArray:
    return np.asarray(hits.mean(axis=1), dtype=np.float64)


# -- tables -----------------------------------------------------------------------------------


def comparison_markdown(c: Comparison) -> str:
    """The metrics side by side, the closest-prediction counts and the pairwise table."""
    columns = [metric_rows(c.metrics[name]) for name in c.names]
    rows = [[label] + [col[i][1] for col in columns] for i, (label, _) in enumerate(columns[0])]
    rows.append(["closest prediction"] + [str(c.closest.get(name, 0)) for name in c.names])
    out = [f"## Metrics on the {c.shared} shared images", ""]
    out += table(["metric", *c.names], rows)
    out.append("")
    if c.pairs:
        header = ["A", "B", "images", "A closer (win rate)", "median error A − B [95% CI]",
                  "acc@25 km A − B [95% CI]"]  # fmt: skip
        pair_rows = [
            [p.a, p.b, str(p.n), pct(p.win_rate),
             f"{_signed(p.median_diff_km, 'km')} [{_signed(p.median_diff_ci95[0], 'km')}, "
             f"{_signed(p.median_diff_ci95[1], 'km')}]",
             f"{_signed(p.acc25_diff, '%')} [{_signed(p.acc25_diff_ci95[0], '%')}, "
             f"{_signed(p.acc25_diff_ci95[1], '%')}]"]
            for p in c.pairs
        ]  # fmt: skip
        out += ["## Pairwise", "", *table(header, pair_rows), ""]
    out += [
        "Unanswered images count as misses, at the maximum error (half the Earth's "
        "circumference) in medians, and as infinitely far in the win rate; ties count half. "
        "Closest prediction: images where a run is closest of all (ties count for each). "
        f"Intervals: paired bootstrap. {DASH}: not available.",
        "",
    ]
    return "\n".join(out)


def _signed(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:+.1f}%"
    return f"{value:+,.1f} km"


def comparison_csv(c: Comparison) -> str:
    """One tidy table of everything: ``section,run,other,metric,value,ci95_low,ci95_high``.

    ``section`` is ``run`` (one row per run and metric, ``other`` empty) or ``pair`` (``run``
    vs ``other``). Missing values are empty cells.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "run", "other", "metric", "value", "ci95_low", "ci95_high"])
    for name in c.names:
        m = c.metrics[name]
        for metric, value in _flat(m):
            lo_hi = m.ci95.get(metric)
            w.writerow(
                ["run", name, "", metric, _num(value), *(_num(x) for x in lo_hi or ("", ""))]
            )
        w.writerow(["run", name, "", "closest", c.closest.get(name, 0), "", ""])
    for p in c.pairs:
        w.writerow(["pair", p.a, p.b, "n", p.n, "", ""])
        w.writerow(["pair", p.a, p.b, "win_rate", _num(p.win_rate), "", ""])
        w.writerow(["pair", p.a, p.b, "median_diff_km", _num(p.median_diff_km),
                    *(_num(x) for x in p.median_diff_ci95)])  # fmt: skip
        w.writerow(["pair", p.a, p.b, "acc25_diff", _num(p.acc25_diff),
                    *(_num(x) for x in p.acc25_diff_ci95)])  # fmt: skip
    return buf.getvalue()


def _flat(m: Metrics) -> list[tuple[str, float | int | None]]:
    out: list[tuple[str, float | int | None]] = [
        ("n", m.n), ("answered", m.answered), ("refused", m.refused),
        ("unparsed", m.unparsed), ("errors", m.errors), ("coverage", m.coverage),
    ]  # fmt: skip
    out += [(f"acc_km.{k}", v) for k, v in m.acc_km.items()]
    out += [(f"acc_km_answered.{k}", m.acc_km_answered.get(k)) for k in m.acc_km]
    for name in ("median_km", "mean_km", "median_km_answered", "mean_km_answered",
                 "geoscore_mean", "geoscore_median", "geoscore_mean_answered",
                 "country_acc", "continent_acc"):  # fmt: skip
        out.append((name, getattr(m, name)))
    return out


def _num(value: float | int | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


# -- external systems -------------------------------------------------------------------------


class ExternalCSVError(ConfigError):
    """An external predictions CSV has bad rows; ``problems`` lists ``(line, reason)``."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = "; ".join(f"line {line}: {why}" for line, why in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{path}: {len(problems)} bad row(s): {shown}{more}")


def load_external_csv(path: str | Path) -> list[tuple[str, float, float]]:
    """Predictions of an external system (GeoCLIP, PIGEON, G3...) as ``(id, lat, lon)``.

    The columns are found by name (``id``/``filename``/``image``..., ``lat``/``latitude``,
    ``lon``/``lng``/``long``/``longitude``; case-insensitive); a file without a header is
    read as ``id,lat,lon``. Every row must be usable: an empty id, a missing, unreadable or
    out-of-range coordinate, or a repeated id raises :class:`ExternalCSVError` listing every
    bad row with its line number. Nothing is dropped silently.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        text = fh.read()
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    header = next(reader, None)
    if header is None:
        raise ExternalCSVError(path, [(1, "the file is empty")])
    cols = _columns(header)
    if cols is None:
        if len(header) == 3 and _float(header[1]) is not None and _float(header[2]) is not None:
            cols = (0, 1, 2)
            reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
        else:
            raise ExternalCSVError(path, [(1, f"no id/lat/lon columns in the header {header!r}")])
    out: list[tuple[str, float, float]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        why, parsed = _row(row, cols)
        if parsed is None:
            problems.append((line, why))
            continue
        if parsed[0] in seen:
            problems.append((line, f"id {parsed[0]!r} already on line {seen[parsed[0]]}"))
            continue
        seen[parsed[0]] = line
        out.append(parsed)
    if problems:
        raise ExternalCSVError(path, problems)
    return out


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count) if first else ","


def _columns(header: Sequence[str]) -> tuple[int, int, int] | None:
    names = [h.strip().lower() for h in header]

    def find(candidates: Sequence[str]) -> int | None:
        return next((names.index(c) for c in candidates if c in names), None)

    found = (find(ID_COLUMNS), find(LAT_COLUMNS), find(LON_COLUMNS))
    if found[0] is None or found[1] is None or found[2] is None:
        return None
    return found[0], found[1], found[2]


def _float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _row(
    row: Sequence[str], cols: tuple[int, int, int]
) -> tuple[str, tuple[str, float, float] | None]:
    i, la, lo = cols
    if len(row) <= max(cols):
        return f"{len(row)} field(s), expected at least {max(cols) + 1}", None
    ident = row[i].strip()
    lat, lon = _float(row[la]), _float(row[lo])
    if not ident:
        return "empty id", None
    if lat is None or not -90 <= lat <= 90:
        return f"latitude {row[la]!r} is not a number in [-90, 90]", None
    if lon is None or not -180 <= lon <= 180:
        return f"longitude {row[lo]!r} is not a number in [-180, 180]", None
    return "", (ident, lat, lon)


__all__ = [
    "Comparison",
    "ExternalCSVError",
    "PairStats",
    "compare",
    "comparison_csv",
    "comparison_markdown",
    "load_external_csv",
]
