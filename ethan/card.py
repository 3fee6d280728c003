"""One prediction as a short card for a person at a terminal (``ethan locate`` on a TTY).

The card says where (the best place as words: the model's names, or a reverse-geocoded
region and country when it gave only coordinates), the coordinates, how sure (the best
place's share of the answer's weight and the radius holding 90% of it), what else it could
be (the other places with their probabilities), why (the three strongest clues) and an
OpenStreetMap link. A refused, unparsed or failed image is a card of its own that says so.

    >>> from rich.console import Console                           # doctest: +SKIP
    >>> emit_card(prediction, Console())                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ethan.types import Clue, Hypothesis, Prediction, Status

if TYPE_CHECKING:
    from ethan.geocode.reverse import Place

log = logging.getLogger(__name__)

#: Reverse geocoder: a point to its place (country, region, continent).
Reverse = Callable[[float, float], "Place"]

MAX_ALTERNATIVES = 3
MAX_CLUES = 3
CLUE_CHARS = 140  # a clue's line is cut there: the card stays short
CONTINENTS = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}
_FAILURE_STYLE = {Status.REFUSED: "yellow", Status.UNPARSED: "magenta", Status.ERROR: "red"}
_FAILURE_WORDS = {
    Status.REFUSED: "the model declined to answer",
    Status.UNPARSED: "no location could be read from the model's answer",
    Status.ERROR: "this image failed",
}


@dataclass(frozen=True)
class Option:
    """One place the answer points to, with its share of the weight."""

    label: str
    probability: float
    lat: float
    lon: float


def osm_link(lat: float, lon: float, radius_km: float | None = None) -> str:
    """An OpenStreetMap link with a marker at the point, zoomed to the radius."""
    zoom = 12 if not radius_km else int(max(3, min(16, round(14 - math.log2(max(radius_km, 1))))))
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}"
        f"#map={zoom}/{lat:.5f}/{lon:.5f}"
    )


def place_words(place: Place) -> str:
    """A reverse-geocoded place as words, specific to general; "open water" at sea."""
    parts = [place.region, place.country]
    words = ", ".join(p for p in parts if p)
    if words:
        return words
    if place.continent:
        return CONTINENTS.get(place.continent, place.continent)
    return "open water"


def options(prediction: Prediction, reverse: Reverse | None = None) -> list[Option]:
    """The places of the answer, best first: hypotheses with the same words are one place
    (their weights add up); the best is the one at the answer's point."""
    from ethan.aggregate import hypothesis_weights
    from ethan.geo import haversine_km

    hyps = prediction.hypotheses
    if prediction.lat is None or prediction.lon is None:
        return []
    if not hyps:
        words = _reverse_words(prediction.lat, prediction.lon, reverse)
        return [Option(words, 1.0, prediction.lat, prediction.lon)]
    weights = [float(w) for w in hypothesis_weights(hyps)]
    lat, lon = prediction.lat, prediction.lon
    nearest = min(
        range(len(hyps)),
        key=lambda i: (float(haversine_km(lat, lon, hyps[i].lat, hyps[i].lon)), -weights[i]),
    )
    share: dict[str, float] = {}  # insertion order: the model's order
    point: dict[str, tuple[float, float]] = {}
    for h, weight in zip(hyps, weights, strict=True):
        label = _words(h, reverse)
        share[label] = share.get(label, 0.0) + weight
        point.setdefault(label, (h.lat, h.lon))
    best = _words(hyps[nearest], reverse)
    point[best] = (lat, lon)
    ranked = sorted(share, key=lambda label: (label != best, -share[label]))
    return [Option(label, share[label], *point[label]) for label in ranked]


def strongest_clues(clues: list[Clue], k: int = MAX_CLUES) -> list[Clue]:
    """The first ``k`` clues that say what they imply, then the others, in the model's order
    (models list the most telling first)."""
    telling = [c for c in clues if c.implication]
    return [*telling, *(c for c in clues if not c.implication)][:k]


def card(prediction: Prediction, *, reverse: Reverse | None = None) -> RenderableType:
    """The card as a rich renderable."""
    name = PurePath(prediction.image).name or prediction.image
    if prediction.status is not Status.OK or prediction.lat is None or prediction.lon is None:
        return _failure(prediction, name)
    places = options(prediction, reverse)
    best = places[0]
    lat, lon = prediction.lat, prediction.lon
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="bold", no_wrap=True)
    rows.add_column()
    rows.add_row("where", Text(best.label, style="bold green"))
    rows.add_row("point", f"{lat:.5f}, {lon:.5f}")
    rows.add_row("how sure", _sureness(best, len(places), prediction))
    others = places[1 : 1 + MAX_ALTERNATIVES]
    if others:
        rows.add_row("or else", Text("\n".join(f"{o.label}  {o.probability:.0%}" for o in others)))
    clues = strongest_clues(prediction.clues)
    if clues:
        rows.add_row("why", Text("\n".join(_clue_line(c) for c in clues)))
    link = osm_link(lat, lon, prediction.radius_km)
    rows.add_row("map", Text(link, style=f"link {link}"))
    subtitle = prediction.model or ""
    return Panel(
        rows,
        title=Text(name, style="bold"),
        title_align="left",
        subtitle=Text(subtitle, style="dim") if subtitle else None,
        subtitle_align="right",
        border_style="green",
        expand=False,
    )


def use_cards(stream: TextIO | None = None, *, out: object = None, json: bool = False) -> bool:
    """Whether results go out as cards: ``stream`` (stdout) is a terminal and neither an
    output file nor JSON was asked for. Piped, results stay JSON lines."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return out is None and not json and bool(isatty and isatty())


def emit_card(prediction: Prediction, console: Console, *, reverse: Reverse | None = None) -> None:
    """Print one prediction's card on ``console``.

    ``reverse`` names coordinate-only answers (default: :func:`ethan.geocode.reverse`).
    """
    console.print(card(prediction, reverse=reverse))


def _failure(prediction: Prediction, name: str) -> RenderableType:
    style = _FAILURE_STYLE.get(prediction.status, "red")
    body = Text(_FAILURE_WORDS.get(prediction.status, prediction.status.value), style="bold")
    message = prediction.message.removeprefix(f"{prediction.image}: ").strip()
    if message:
        body.append("\n")
        body.append(message[:600], style="")  # a Text: brackets in the message stay literal
    return Panel(
        Group(body),
        title=Text(f"{name}: {prediction.status.value.upper()}", style=f"bold {style}"),
        title_align="left",
        border_style=style,
        expand=False,
    )


def _sureness(best: Option, n_places: int, prediction: Prediction) -> Text:
    """The best place's probability (its share of the weight), and the 90% radius."""
    if n_places == 1:
        stated = [h.probability for h in prediction.hypotheses if h.probability is not None]
        if len(prediction.hypotheses) == 1 and stated:
            text = Text(f"{stated[0]:.0%} by the model's own account")
        else:
            text = Text("the only place the model named")
    else:
        text = Text(f"{best.probability:.0%}")
    if prediction.radius_km:
        text.append(f"; 90% of the answer within {_km(prediction.radius_km)}")
    return text


def _km(value: float) -> str:
    if value < 1:
        return f"{value * 1000:,.0f} m"
    return f"{value:,.0f} km" if value >= 10 else f"{value:,.1f} km"


def _clue_line(clue: Clue, limit: int = CLUE_CHARS) -> str:
    line = f"{clue.category.value}: {clue.observation.strip()}"
    if clue.implication:
        line += f" -> {clue.implication.strip()}"
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _words(hypothesis: Hypothesis, reverse: Reverse | None) -> str:
    label = hypothesis.label()
    return label if label else _reverse_words(hypothesis.lat, hypothesis.lon, reverse)


def _reverse_words(lat: float, lon: float, reverse: Reverse | None) -> str:
    try:
        if reverse is None:
            from ethan.geocode import reverse as default_reverse

            return place_words(default_reverse(lat, lon))
        return place_words(reverse(lat, lon))
    except Exception as exc:  # naming is a courtesy: the coordinates are on the card anyway
        log.debug("no reverse geocoding for %.4f, %.4f: %s", lat, lon, exc)
        return f"{lat:.3f}, {lon:.3f}"
