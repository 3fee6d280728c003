"""Scores of predictions against the truth. Metrics know nothing about models: a list of
:class:`Record` (truth + status + point) is all they need.

How an *unanswered* image (status ``refused``, ``unparsed`` or ``error``: no point) counts:

* ``acc_km``: a miss. ``acc_km_answered`` leaves it out (answered images only);
* ``median_km`` / ``mean_km``: its error is :data:`MAX_KM` (20015.1 km, half the Earth's
  circumference: no guess can be farther off). The ``*_answered`` variants leave it out;
* ``geoscore_mean`` / ``geoscore_median``: it scores 0;
* ``country_acc`` / ``continent_acc``: a miss. An image whose *true* point has no country
  (continent) — the open sea — is left out of that metric's denominator; a *predicted* point
  at sea is simply a miss;
* ``per_continent`` groups images by their true continent (``"unknown"`` at sea) and counts
  unanswered images as above.

An image is a hit at ``t`` km when its error is at most ``t`` km. Confidence intervals are
percentile bootstrap intervals (images resampled with replacement); the ``*_answered``
intervals resample the answered images only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethan.errors import ConfigError
from ethan.geo import EARTH_RADIUS_KM, FloatArray, haversine_km
from ethan.types import Prediction, Status

THRESHOLDS_KM: tuple[float, ...] = (1, 25, 200, 750, 2500)
MAX_KM = math.pi * EARTH_RADIUS_KM  # 20015.1 km: the error charged to an unanswered image
GEOSCORE_MAX = 5000.0
GEOSCORE_SCALE_KM = 1492.7
UNKNOWN_CONTINENT = "unknown"

IndexArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
_CHUNK_CELLS = 2_000_000  # bootstrap resamples are drawn in blocks of about this many cells


class Record(BaseModel):
    """One image: its true point, the prediction's status and (when answered) its point."""

    model_config = ConfigDict(frozen=True)

    id: str
    true_lat: float = Field(ge=-90, le=90)
    true_lon: float = Field(ge=-180, le=180)
    status: Status
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _point_matches_status(self) -> Record:
        has_point = self.lat is not None and self.lon is not None
        if self.status is Status.OK and not has_point:
            raise ValueError(f"record {self.id!r}: status 'ok' needs lat and lon")
        if self.status is not Status.OK and (self.lat is not None or self.lon is not None):
            raise ValueError(f"record {self.id!r}: status {self.status.value!r} has no point")
        return self

    @property
    def answered(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def from_prediction(
        cls, prediction: Prediction, true_lat: float, true_lon: float, *, id: str | None = None
    ) -> Record:
        """The record of a prediction, given its truth (``id`` defaults to the image)."""
        return cls(
            id=prediction.image if id is None else id,
            true_lat=true_lat,
            true_lon=true_lon,
            status=prediction.status,
            lat=prediction.lat,
            lon=prediction.lon,
        )


class Metrics(BaseModel):
    """Scores of one run. ``ci95`` keys: ``acc_km.<t>``, ``acc_km_answered.<t>``,
    ``median_km``, ``median_km_answered``, ``geoscore_mean``, ``geoscore_mean_answered``,
    ``country_acc``, ``continent_acc`` (a key is absent when it cannot be estimated)."""

    n: int
    answered: int
    refused: int
    unparsed: int
    errors: int
    coverage: float
    acc_km: dict[str, float]
    acc_km_answered: dict[str, float]  # empty when nothing was answered
    median_km: float | None
    mean_km: float | None
    median_km_answered: float | None
    mean_km_answered: float | None
    geoscore_mean: float
    geoscore_median: float
    geoscore_mean_answered: float | None
    country_acc: float | None
    continent_acc: float | None
    ci95: dict[str, tuple[float, float]] = Field(default_factory=dict)
    per_continent: dict[str, dict[str, float | int]] = Field(default_factory=dict)


def records_from_points(
    points: Iterable[tuple[str, float, float]], truth: Mapping[str, tuple[float, float]]
) -> list[Record]:
    """Records for a system that answers with bare points (an external CSV, a reference
    baseline): one per truth id, in the truth's order. An id without a point becomes an
    ``error`` record (a miss); points for ids outside ``truth`` are not part of this
    evaluation and are ignored. A repeated id raises :class:`~ethan.errors.ConfigError`."""
    answers: dict[str, tuple[float, float]] = {}
    for ident, lat, lon in points:
        if ident in answers:
            raise ConfigError(f"image {ident!r} has two points")
        answers[ident] = (lat, lon)
    out: list[Record] = []
    for ident, (tlat, tlon) in truth.items():
        point = answers.get(ident)
        if point is None:
            out.append(Record(id=ident, true_lat=tlat, true_lon=tlon, status=Status.ERROR))
        else:
            out.append(
                Record(
                    id=ident,
                    true_lat=tlat,
                    true_lon=tlon,
                    status=Status.OK,
                    lat=point[0],
                    lon=point[1],
                )
            )
    return out


def threshold_key(km: float) -> str:
    """The dictionary key of a threshold: ``25`` -> ``"25"``, ``0.5`` -> ``"0.5"``."""
    value = float(km)
    return str(int(value)) if value.is_integer() else repr(value)


def normalize_thresholds(thresholds: Sequence[float]) -> list[float]:
    """The standard thresholds plus the given ones, sorted, without duplicates."""
    values = {float(t) for t in (*THRESHOLDS_KM, *thresholds)}
    bad = [t for t in values if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ConfigError(f"thresholds must be positive finite km, got {bad}")
    return sorted(values)


def distances_km(records: Sequence[Record]) -> FloatArray:
    """Great-circle error in km per record, NaN where the image was not answered."""
    return _Table.of(records).d


def geoscore(d_km: ArrayLike) -> FloatArray:
    """GeoGuessr score ``5000 * exp(-d / 1492.7)``; NaN (unanswered) scores 0."""
    d = np.asarray(d_km, dtype=np.float64)
    return np.asarray(np.where(np.isnan(d), 0.0, GEOSCORE_MAX * np.exp(-d / GEOSCORE_SCALE_KM)))


@dataclass(frozen=True)
class _Table:
    """Records as columns."""

    true_lat: FloatArray
    true_lon: FloatArray
    lat: FloatArray  # NaN when unanswered
    lon: FloatArray
    status: list[Status]
    answered: BoolArray
    d: FloatArray  # NaN when unanswered

    @classmethod
    def of(cls, records: Sequence[Record]) -> _Table:
        nan = math.nan
        true_lat = np.fromiter((r.true_lat for r in records), np.float64, len(records))
        true_lon = np.fromiter((r.true_lon for r in records), np.float64, len(records))
        lat = np.fromiter((nan if r.lat is None else r.lat for r in records), np.float64)
        lon = np.fromiter((nan if r.lon is None else r.lon for r in records), np.float64)
        answered = np.fromiter((r.status is Status.OK for r in records), np.bool_, len(records))
        d = np.asarray(haversine_km(true_lat, true_lon, lat, lon), dtype=np.float64)
        d = np.where(answered, d, nan)
        return cls(true_lat, true_lon, lat, lon, [r.status for r in records], answered, d)


def filled_km(d: FloatArray) -> FloatArray:
    """Distances with unanswered (NaN) charged :data:`MAX_KM`."""
    return np.where(np.isnan(d), MAX_KM, d)


def hit_matrix(d: FloatArray, thresholds: Sequence[float]) -> BoolArray:
    """(n, len(thresholds)): error within each threshold; NaN (unanswered) is a miss."""
    with np.errstate(invalid="ignore"):
        return np.asarray(d[:, None] <= np.asarray(thresholds, dtype=np.float64)[None, :])


def resample_blocks(n: int, bootstrap: int, seed: int) -> Iterator[IndexArray]:
    """Bootstrap resamples of ``range(n)`` as (block, n) index arrays, ``bootstrap`` rows
    in all. The same ``(n, bootstrap, seed)`` always gives the same resamples."""
    rng = np.random.default_rng(seed)
    block = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < bootstrap:
        size = min(block, bootstrap - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


Statistic = Callable[[IndexArray], FloatArray]  # (block, n) resample indices -> (block,)


def bootstrap_ci(
    n: int, stats: Mapping[str, Statistic], *, bootstrap: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile 95% intervals of each statistic over ``bootstrap`` paired resamples."""
    if n == 0 or bootstrap <= 0 or not stats:
        return {}
    draws: dict[str, list[FloatArray]] = {name: [] for name in stats}
    for idx in resample_blocks(n, bootstrap, seed):
        for name, stat in stats.items():
            draws[name].append(stat(idx))
    out: dict[str, tuple[float, float]] = {}
    for name, parts in draws.items():
        values = np.concatenate(parts)
        values = values[~np.isnan(values)]
        if values.size:
            lo, hi = np.percentile(values, [2.5, 97.5])
            out[name] = (float(lo), float(hi))
    return out


def _mean_of(column: FloatArray) -> Statistic:
    return lambda idx: np.asarray(column[idx].mean(axis=1))


def _median_of(column: FloatArray) -> Statistic:
    return lambda idx: np.asarray(np.median(column[idx], axis=1))


def _ratio_of(hits: BoolArray, eligible: BoolArray) -> Statistic:
    def stat(idx: IndexArray) -> FloatArray:
        den = eligible[idx].sum(axis=1).astype(np.float64)
        num = hits[idx].sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    return stat


@dataclass(frozen=True)
class _Geography:
    country_hit: BoolArray
    country_ok: BoolArray  # the truth has a country
    continent_hit: BoolArray
    continent_ok: BoolArray
    true_continent: list[str]


def _geography(t: _Table) -> _Geography:
    from ethan.geocode import reverse_many  # lazy: loads the border polygons

    n = len(t.status)
    ans = np.flatnonzero(t.answered)
    places = reverse_many(
        np.concatenate([t.true_lat, t.lat[ans]]).tolist(),
        np.concatenate([t.true_lon, t.lon[ans]]).tolist(),
    )
    truth, guessed = places[:n], places[n:]
    true_country = [p.country_code or p.country for p in truth]
    true_cont = [p.continent for p in truth]
    pred_country: list[str | None] = [None] * n
    pred_cont: list[str | None] = [None] * n
    for i, place in zip(ans.tolist(), guessed, strict=True):
        pred_country[i] = place.country_code or place.country
        pred_cont[i] = place.continent

    def hits(a: list[str | None], b: list[str | None]) -> BoolArray:
        return np.fromiter((x is not None and x == y for x, y in zip(a, b, strict=True)), bool, n)

    return _Geography(
        country_hit=hits(true_country, pred_country),
        country_ok=np.fromiter((c is not None for c in true_country), bool, n),
        continent_hit=hits(true_cont, pred_cont),
        continent_ok=np.fromiter((c is not None for c in true_cont), bool, n),
        true_continent=[c or UNKNOWN_CONTINENT for c in true_cont],
    )


def _ratio(hits: BoolArray, eligible: BoolArray) -> float | None:
    den = int(eligible.sum())
    return float(hits[eligible].sum()) / den if den else None


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def score(
    records: Sequence[Record],
    *,
    thresholds: Sequence[float] = THRESHOLDS_KM,
    bootstrap: int = 1000,
    seed: int = 0,
    geography: bool = True,
) -> Metrics:
    """Score records (see the module docstring for how unanswered images count).

    ``thresholds`` are added to the standard ones. ``bootstrap=0`` skips the intervals.
    ``geography=False`` skips reverse geocoding: country/continent metrics and the
    per-continent breakdown are then ``None`` / empty. Raises
    :class:`~ethan.errors.ConfigError` (a ``ValueError``) on no records or bad thresholds.
    """
    if not records:
        raise ConfigError("no records to score")
    ts = normalize_thresholds(thresholds)
    keys = [threshold_key(t) for t in ts]
    t = _Table.of(records)
    n = len(records)
    answered = int(t.answered.sum())
    filled = filled_km(t.d)
    hits = hit_matrix(t.d, ts)
    gs = geoscore(t.d)
    d_ans = t.d[t.answered]
    hits_ans = hits[t.answered]
    gs_ans = gs[t.answered]

    stats: dict[str, Statistic] = {}
    for j, key in enumerate(keys):
        stats[f"acc_km.{key}"] = _mean_of(hits[:, j].astype(np.float64))
    stats["median_km"] = _median_of(filled)
    stats["geoscore_mean"] = _mean_of(gs)

    geo = _geography(t) if geography else None
    if geo is not None:
        stats["country_acc"] = _ratio_of(geo.country_hit, geo.country_ok)
        stats["continent_acc"] = _ratio_of(geo.continent_hit, geo.continent_ok)
    ci = bootstrap_ci(n, stats, bootstrap=bootstrap, seed=seed)

    ans_stats: dict[str, Statistic] = {}
    for j, key in enumerate(keys):
        ans_stats[f"acc_km_answered.{key}"] = _mean_of(hits_ans[:, j].astype(np.float64))
    ans_stats["median_km_answered"] = _median_of(d_ans)
    ans_stats["geoscore_mean_answered"] = _mean_of(gs_ans)
    ci.update(bootstrap_ci(answered, ans_stats, bootstrap=bootstrap, seed=seed + 1))

    return Metrics(
        n=n,
        answered=answered,
        refused=t.status.count(Status.REFUSED),
        unparsed=t.status.count(Status.UNPARSED),
        errors=t.status.count(Status.ERROR),
        coverage=answered / n,
        acc_km={k: float(hits[:, j].mean()) for j, k in enumerate(keys)},
        acc_km_answered=(
            {k: float(hits_ans[:, j].mean()) for j, k in enumerate(keys)} if answered else {}
        ),
        median_km=float(np.median(filled)),
        mean_km=float(filled.mean()),
        median_km_answered=_opt(np.median(d_ans)) if answered else None,
        mean_km_answered=_opt(d_ans.mean()) if answered else None,
        geoscore_mean=float(gs.mean()),
        geoscore_median=float(np.median(gs)),
        geoscore_mean_answered=_opt(gs_ans.mean()) if answered else None,
        country_acc=_ratio(geo.country_hit, geo.country_ok) if geo else None,
        continent_acc=_ratio(geo.continent_hit, geo.continent_ok) if geo else None,
        ci95=ci,
        per_continent=_per_continent(geo.true_continent, t, hits, keys) if geo else {},
    )


def _per_continent(
    continents: list[str], t: _Table, hits: BoolArray, keys: list[str]
) -> dict[str, dict[str, float | int]]:
    labels = np.asarray(continents, dtype=object)
    filled = filled_km(t.d)
    gs = geoscore(t.d)
    out: dict[str, dict[str, float | int]] = {}
    for code in sorted(set(continents)):
        mask = labels == code
        row: dict[str, float | int] = {
            "n": int(mask.sum()),
            "answered": int(t.answered[mask].sum()),
        }
        for j, key in enumerate(keys):
            row[f"acc_km.{key}"] = float(hits[mask, j].mean())
        row["median_km"] = float(np.median(filled[mask]))
        row["geoscore_mean"] = float(gs[mask].mean())
        out[code] = row
    return out
