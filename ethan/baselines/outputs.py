"""Baseline answers as ethan :class:`~ethan.types.Prediction` objects.

A baseline's top-k points become ranked hypotheses with their probabilities, optionally
named (country, region, continent) by the offline reverse geocoder, so that
``ethan eval --predictions`` and ``ethan compare`` score a baseline like any other system
and ``--candidates`` can show the names to a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ethan.types import Hypothesis, PointSource, Prediction, Status


@dataclass(frozen=True)
class Point:
    """One ranked answer of a baseline."""

    lat: float
    lon: float
    probability: float
    source: PointSource = PointSource.STATED
    note: str | None = None  # e.g. the geocell's name


@dataclass(frozen=True)
class Item:
    """What a prediction is about: the image path and the dataset id (if any)."""

    image: str
    id: str | None = None


def to_predictions(
    items: Sequence[Item],
    points: Sequence[Sequence[Point]],
    *,
    model: str,
    names: bool = True,
) -> list[Prediction]:
    """One ``ok`` prediction per item: the first point is the answer, all are hypotheses."""
    if len(items) != len(points):
        raise ValueError(f"{len(points)} answers for {len(items)} images")
    places = _places(points) if names else {}
    out: list[Prediction] = []
    for item, ranked in zip(items, points, strict=True):
        if not ranked:
            out.append(error_prediction(item, "the baseline gave no answer", model=model))
            continue
        hypotheses = [_hypothesis(p, places.get((p.lat, p.lon))) for p in ranked]
        best = ranked[0]
        out.append(
            Prediction(
                image=item.image,
                id=item.id,
                status=Status.OK,
                lat=hypotheses[0].lat,
                lon=hypotheses[0].lon,
                hypotheses=hypotheses,
                message=best.note or "",
                model=model,
            )
        )
    return out


def error_prediction(item: Item, message: str, *, model: str) -> Prediction:
    return Prediction(
        image=item.image, id=item.id, status=Status.ERROR, message=message, model=model
    )


def _hypothesis(point: Point, place: tuple[str | None, ...] | None) -> Hypothesis:
    code, country, region, continent = place or (None, None, None, None)
    return Hypothesis(
        lat=_clamp(point.lat, 90.0),
        lon=_clamp(point.lon, 180.0),
        probability=min(max(point.probability, 0.0), 1.0),
        source=point.source,
        level="geocell" if point.source is PointSource.CENTROID else "point",
        country_code=code,
        country=country,
        region=region,
        continent=continent,
    )


def _clamp(value: float, limit: float) -> float:
    return min(max(float(value), -limit), limit)


def _places(
    points: Sequence[Sequence[Point]],
) -> dict[tuple[float, float], tuple[str | None, ...]]:
    """Country code, country, region and continent name of every distinct point."""
    from ethan.geocode import reverse_many
    from ethan.geocode.countries import continent_name

    keys = list(dict.fromkeys((p.lat, p.lon) for ranked in points for p in ranked))
    if not keys:
        return {}
    found = reverse_many([k[0] for k in keys], [k[1] for k in keys])
    return {
        key: (
            place.country_code,
            place.country,
            place.region,
            continent_name(place.continent) if place.continent else None,
        )
        for key, place in zip(keys, found, strict=True)
    }
