"""Last resort: places named in reasoning that has no final answer, through the pipeline."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from ethan.backends.base import Choice, ModelOutput
from ethan.geo import haversine_km
from ethan.geocode import Gazetteer
from ethan.geocode.mentions import best_mention, last_resort, mentions
from ethan.pipeline import Geolocator
from ethan.types import PointSource, Status

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RESPONSES = SHARED / "corpus" / "streetview-dev" / "responses"
TRUTH = SHARED / "corpus" / "streetview-dev" / "truth.csv"


@pytest.fixture(scope="module")
def gaz(tmp_path_factory: pytest.TempPathFactory) -> Gazetteer:
    return Gazetteer(cache_dir=tmp_path_factory.mktemp("gazetteer"))


class _NoBackend:
    name = "none"
    model = "replayed"

    async def generate(self, *_: Any) -> ModelOutput:
        raise AssertionError("not called")

    def identity(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None


def _geo(gaz: Gazetteer, **settings: Any) -> Geolocator:
    return Geolocator(_NoBackend(), geocoder=gaz, cache=False, **settings)  # type: ignore[arg-type]


def test_most_supported_place_wins(gaz: Gazetteer) -> None:
    text = (
        "The signs are in Portuguese and the plates look Brazilian, so Brazil is likely. "
        "The architecture reminds me of Porto Alegre; it could also be Lisbon, but the "
        "vegetation says Brazil. Perhaps near Porto Alegre in the south"
    )
    found = mentions(text, gaz)
    assert [m.text for m in found[:3]] == ["Porto Alegre", "Brazil", "Lisbon"]
    best = found[0]
    assert best.resolved.level == "city" and best.resolved.country_code == "BR"
    assert best.count == 2 and best.support == 4  # twice, plus Brazil's two mentions


def test_nothing_to_find(gaz: Gazetteer) -> None:
    assert best_mention("I'm sorry, but I can't help with that request.", gaz) is None
    assert best_mention("The image shows a road with Trees and a Sign.", gaz) is None
    assert best_mention("", gaz) is None
    # a small town named alone is not trusted; named with its country it is
    assert best_mention("It looks like Tigbauan to me", gaz) is None
    hit = best_mention("It looks like Tigbauan, in the Philippines", gaz)
    assert hit is not None and hit.resolved.country_code == "PH"


def test_last_resort_hypotheses(gaz: Gazetteer) -> None:
    hyps = last_resort(["somewhere in Japan, maybe Osaka or Kyoto... Japan", None, "x"], gaz)
    assert len(hyps) == 1
    (h,) = hyps
    assert h.source is PointSource.MENTIONED and h.sample == 0
    assert h.country_code == "JP" and h.city in ("Osaka", "Kyoto")


def test_pipeline_uses_it_only_without_an_answer(gaz: Gazetteer) -> None:
    cut = "The kanji on the signs and the narrow streets suggest Japan, probably Osaka. {"
    output = ModelOutput(model="m", choices=[Choice(text=cut, finish_reason="length")])
    on = _geo(gaz).interpret(output, image="a.jpg")
    assert on.status is Status.OK
    assert on.hypotheses[0].source is PointSource.MENTIONED
    assert "last resort" in on.message
    assert haversine_km(on.lat, on.lon, 34.69, 135.50) < 20  # type: ignore[arg-type]
    off = _geo(gaz, last_resort=False).interpret(output, image="a.jpg")
    assert off.status is Status.UNPARSED and off.lat is None
    # a refusal never becomes an answer, whatever it names
    refusal = "I'm sorry, but I can't fulfill this request. This location in Brazil is private."
    out = _geo(gaz).interpret(ModelOutput(model="m", choices=[Choice(text=refusal)]), image="b.jpg")
    assert out.status is Status.REFUSED
    # a real answer is never replaced
    answer = '{"lat": 48.85, "lon": 2.35, "city": "Paris"} I also thought of Tokyo, Tokyo, Tokyo'
    ok = _geo(gaz).interpret(ModelOutput(model="m", choices=[Choice(text=answer)]), image="c")
    assert ok.hypotheses[0].source is PointSource.STATED and ok.message == ""
    assert ok.radius_km == 0.0


@pytest.mark.skipif(not RESPONSES.is_dir(), reason="shared corpus not present")
def test_cut_off_llama_answers_are_mostly_recovered_in_the_right_area(gaz: Gazetteer) -> None:
    """Llama's real answers cut before their final JSON (as when max_tokens runs out).

    Measured: of the 74 the parser cannot read any more, the reasoning names a place in 43,
    22 of them in the right country (eval/bench/gazetteer_accuracy.py)."""
    with TRUTH.open(encoding="utf-8", newline="") as f:
        truth = {r["filename"]: (float(r["lat"]), float(r["lng"])) for r in csv.DictReader(f)}
    with (RESPONSES / "llama-3.2-11b-vision.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    geo = _geo(gaz)
    recovered = within_750 = 0
    for row in rows:
        text = row["model_response"]
        brace = text.rfind("{")
        if brace <= 0:
            continue
        p = geo.interpret(
            ModelOutput(model="m", choices=[Choice(text=text[:brace], finish_reason="length")]),
            image=row["filename"],
        )
        if p.ok and p.hypotheses[0].source is PointSource.MENTIONED:
            recovered += 1
            within_750 += haversine_km(p.lat, p.lon, *truth[row["filename"]]) <= 750  # type: ignore[arg-type]
    assert recovered >= 35
    assert within_750 >= 0.3 * recovered
