"""The card a person reads on a terminal: where, how sure, what else, why, a map link;
failures said plainly. Checked on the formatter and in a real pseudo-terminal, where the
same program writes JSON lines, unchanged, when piped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ethan import Geolocator, Prediction, Status
from ethan.backends.replay import ReplayBackend
from ethan.card import card, options, osm_link, place_words, strongest_clues, use_cards
from ethan.geocode import reverse
from ethan.types import Clue, ClueCategory, Hypothesis, PointSource
from tests.conftest import STREETVIEW
from tests.pty_run import run_in_pty

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((STREETVIEW / "images").iterdir())[:4]


@pytest.fixture(scope="module")
def replayed() -> list[Prediction]:
    """Real predictions: recorded GPT-4o answers through the whole pipeline."""
    geo = Geolocator(ReplayBackend(STREETVIEW / "responses" / "gpt-4o.csv"), cache=False)
    try:
        return [geo.locate(photo) for photo in PHOTOS]
    finally:
        geo.close()


def _hyp(lat: float, lon: float, p: float | None, sample: int = 0, **names: str) -> Hypothesis:
    return Hypothesis(lat=lat, lon=lon, probability=p, sample=sample, source=PointSource.GEOCODED,
                      **names)  # fmt: skip


def _several() -> Prediction:
    """Two samples: Paris and Lyon, then Paris again, then a bare point in Japan."""
    hyps = [
        _hyp(48.8566, 2.3522, 0.6, city="Paris", country="France"),
        _hyp(45.7640, 4.8357, 0.4, city="Lyon", country="France"),
        _hyp(48.8566, 2.3522, 0.8, sample=1, city="Paris", country="France"),
        Hypothesis(lat=35.0, lon=139.0, probability=0.2, sample=1, source=PointSource.STATED),
    ]
    clues = [
        Clue(category="language", observation="a sign reads 'Boulangerie'"),
        Clue(category="road", observation="yellow-on-white plates", implication="France"),
        Clue(category="architecture", observation="Haussmann facades", implication="Paris"),
        Clue(category="vegetation", observation="plane trees", implication="Western Europe"),
    ]
    return Prediction(image="photos/paris.jpg", status=Status.OK, lat=48.8566, lon=2.3522,
                      hypotheses=hyps, clues=clues, radius_km=391.6, model="gpt-4o")  # fmt: skip


def _failures() -> list[Prediction]:
    return [
        Prediction(image="a/refused.jpg", status=Status.REFUSED, message="I can't help with that"),
        Prediction(image="a/unparsed.jpg", status=Status.UNPARSED, message="no guess in [it]"),
        Prediction(image="a/error.jpg", status=Status.ERROR,
                   message="a/error.jpg: HTTP 500 from the model server: [bold]boom[/bold]"),
    ]  # fmt: skip


def _text(prediction: Prediction, width: int = 110) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(card(prediction))
    return console.export_text()


def test_places_merge_by_name_and_the_best_is_at_the_answer() -> None:
    places = options(_several())
    japan = place_words(reverse(35.0, 139.0))
    assert "Japan" in japan
    assert [p.label for p in places] == ["Paris, France", "Lyon, France", japan]
    # sample 0 holds half the weight (0.6/0.4 of it), sample 1 the other half (0.8/0.2)
    assert [round(p.probability, 3) for p in places] == [0.7, 0.2, 0.1]
    assert (places[0].lat, places[0].lon) == (48.8566, 2.3522)


def test_a_coordinates_only_answer_is_named_by_reverse_geocoding() -> None:
    point = Hypothesis(lat=-33.87, lon=151.21, source=PointSource.STATED)
    bare = Prediction(image="x.jpg", status=Status.OK, lat=-33.87, lon=151.21, hypotheses=[point])
    [only] = options(bare)
    assert only.label == place_words(reverse(-33.87, 151.21)) and "Australia" in only.label
    text = _text(bare)
    assert only.label in text and "-33.87000, 151.21000" in text
    assert "the only place the model named" in text


def test_links_strongest_clues_and_where_cards_go() -> None:
    assert osm_link(48.8566, 2.3522) == (
        "https://www.openstreetmap.org/?mlat=48.85660&mlon=2.35220#map=12/48.85660/2.35220"
    )
    assert "#map=5/" in osm_link(0.0, 0.0, 500.0) and "#map=14/" in osm_link(0.0, 0.0, 0.5)
    clues = strongest_clues(_several().clues)
    assert [c.category for c in clues] == [
        ClueCategory.ROAD, ClueCategory.ARCHITECTURE, ClueCategory.VEGETATION
    ]  # fmt: skip
    assert not use_cards(io.StringIO())
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert use_cards(tty)
            assert not use_cards(tty, json=True) and not use_cards(tty, out=Path("r.jsonl"))
    finally:
        os.close(master)
        os.close(slave)


def test_the_card_says_where_how_sure_what_else_and_why() -> None:
    text = _text(_several())
    lines = {line.strip("│ ").split("  ")[0]: line for line in text.splitlines()}
    assert "paris.jpg" in text and "gpt-4o" in text
    assert "Paris, France" in lines["where"]
    assert "48.85660, 2.35220" in lines["point"]
    assert "70%" in lines["how sure"] and "392 km" in lines["how sure"]
    assert "Lyon, France  20%" in lines["or else"]
    assert "road: yellow-on-white plates -> France" in lines["why"]
    assert "Boulangerie" not in text, "three clues, those that say what they imply first"
    assert "https://www.openstreetmap.org/?mlat=48.85660&mlon=2.35220" in lines["map"]


def test_real_predictions_make_cards(replayed: list[Prediction]) -> None:
    for prediction in replayed:
        text = _text(prediction)
        assert Path(prediction.image).name in text
        if prediction.status is not Status.OK:
            assert prediction.status.value.upper() in text
            continue
        assert prediction.lat is not None and prediction.lon is not None
        assert f"{prediction.lat:.5f}, {prediction.lon:.5f}" in text
        assert options(prediction)[0].label in text
        assert f"mlat={prediction.lat:.5f}&mlon={prediction.lon:.5f}" in text
        if prediction.clues:
            assert strongest_clues(prediction.clues)[0].category.value + ":" in text


@pytest.mark.parametrize("prediction", _failures(), ids=lambda p: p.status.value)
def test_failures_are_shown_plainly(prediction: Prediction) -> None:
    text = _text(prediction)
    assert f"{Path(prediction.image).name}: {prediction.status.value.upper()}" in text
    assert prediction.message.removeprefix(f"{prediction.image}: ") in text  # literal brackets
    assert "openstreetmap" not in text and "point" not in text


def test_cards_on_a_terminal_json_lines_unchanged_when_piped(
    tmp_path: Path, replayed: list[Prediction]
) -> None:
    predictions = [*replayed, _several(), *_failures()]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(p.to_json_line() for p in predictions), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    program = [sys.executable, str(ROOT / "tests" / "show_cards.py"), str(path)]

    screen = run_in_pty(program, env=env, columns=120)
    assert screen.returncode == 0, screen.text
    text = screen.text
    assert "\x1b[" in screen.raw, "colours on a terminal"
    assert "\x1b]8;" in screen.raw, "the map link is a terminal hyperlink"
    assert "{" not in text, "no JSON on the terminal"
    for prediction in predictions:
        assert Path(prediction.image).name in text
    assert text.count("openstreetmap.org/?mlat=") == sum(p.ok for p in predictions)
    assert "Lyon, France  20%" in text and "paris.jpg" in text
    for failure in _failures():
        assert f"{Path(failure.image).name}: {failure.status.value.upper()}" in text
    assert "[bold]boom[/bold]" in text

    piped = subprocess.run(program, capture_output=True, text=True, env=env, timeout=120,
                           check=True)  # fmt: skip
    assert piped.stdout == path.read_text(encoding="utf-8")
