"""The hybrid: a baseline's top-k candidates in each image's prompt (``--candidates``), and
the ``candidates`` template that asks the model to test them against the photo."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ethan.backends.base import Choice, GenerateConfig, Message, ModelOutput, TextPart
from ethan.baselines.candidates import Candidate, candidates_by_image, load_candidates
from ethan.cli import app
from ethan.pipeline import Geolocator
from ethan.prompts import render_template
from ethan.results import PredictionWriter
from ethan.types import Hypothesis, PointSource, Prediction, Status
from tests.conftest import STREETVIEW
from tests.replay_server import ReplayServer

IMAGES = STREETVIEW / "images"
ANSWER = '```json\n{"reasoning": "r", "clues": [], "guesses": [{"lat": 10, "lon": 20}]}\n```'
# proposed points: a few towns, never an image's own truth
TOWNS = [(52.5200, 13.4100, "Berlin"), (-33.8688, 151.2093, None), (35.6762, 139.6503, None)]


def baseline_prediction(image: str, shift: float) -> Prediction:
    hypotheses = [
        Hypothesis(
            lat=lat + shift, lon=lon, probability=p, source=PointSource.STATED,
            country="Germany" if name else None, region=name,
        )
        for (lat, lon, name), p in zip(TOWNS, (0.5, 0.3, 0.1), strict=True)
    ]  # fmt: skip
    return Prediction(
        image=image, id=Path(image).name, status=Status.OK, lat=hypotheses[0].lat,
        lon=hypotheses[0].lon, hypotheses=hypotheses, model="geocell-classifier",
    )  # fmt: skip


def write_baseline(path: Path, images: list[Path]) -> Path:
    with PredictionWriter(path) as writer:
        for k, image in enumerate(images):
            writer.write(baseline_prediction(str(image), shift=k / 100))
        writer.write(
            Prediction(image=str(IMAGES / "nothing.jpg"), status=Status.ERROR, message="x")
        )
    return path


def test_candidates_come_from_the_hypotheses_named_offline(tmp_path: Path) -> None:
    images = sorted(IMAGES.glob("*.jpg"))[:3]
    found = load_candidates(write_baseline(tmp_path / "b.jsonl", images), top_k=2)
    # filed under the image key and the dataset id; the failed prediction gives none
    assert set(found) == {str(p) for p in images} | {p.name for p in images}
    first = found[str(images[0])]
    assert [c.probability for c in first] == [0.5, 0.3]
    assert first[0].name == "Berlin, Germany" and first[0].source == "geocell-classifier"
    assert first[1].name == "New South Wales, Australia"  # reverse-geocoded: it had none
    assert str(first[0]) == "Berlin, Germany (52.52°N, 13.41°E), probability 0.50"
    assert str(Candidate(lat=-1.5, lon=-70.25)) == "1.50°S, 70.25°W"
    unnamed = candidates_by_image([baseline_prediction("x/a.jpg", 0)], names=False)
    assert unnamed["x/a.jpg"][1].name is None


def test_candidates_template_with_and_without_candidates() -> None:
    candidates = [Candidate(lat=52.52, lon=13.41, probability=0.5, name="Berlin, Germany")]
    text = render_template("candidates", variables={"candidates": candidates})
    assert "1. Berlin, Germany (52.52°N, 13.41°E), probability 0.50" in text
    assert "hypotheses to test" in text and '"guesses"' in text
    bare = render_template("candidates")
    assert "No candidate locations" in bare and "Berlin" not in bare
    gps = render_template("gps", variables={"candidates": candidates})
    assert "Candidate locations proposed" in gps and "Berlin, Germany (52.52°N" in gps


class Capture:
    """A backend that records each prompt and answers with a fixed JSON."""

    name = "capture"
    model = "capture-model"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        self.prompts.append(
            "\n".join(p.text for m in messages for p in m.content if isinstance(p, TextPart))
        )
        return ModelOutput(model=self.model, choices=[Choice(text=ANSWER, finish_reason="stop")])

    def identity(self) -> dict[str, Any]:
        return {"name": self.name}

    async def aclose(self) -> None:
        return None


def test_each_image_gets_its_own_candidates(tmp_path: Path) -> None:
    images = sorted(IMAGES.glob("*.jpg"))[:3]
    found = load_candidates(write_baseline(tmp_path / "b.jsonl", images[:2]))
    backend = Capture()
    geo = Geolocator(backend, template="candidates", candidates=found, cache=False)

    async def run() -> list[Prediction]:
        return [p async for p in geo.locate_many(images, concurrency=1)]

    predictions = asyncio.run(run())
    assert all(p.ok for p in predictions)
    by_image = dict(zip(images, backend.prompts, strict=True))
    assert "1. Berlin, Germany (52.52°N" in by_image[images[0]]
    assert "1. Berlin, Germany (52.53°N" in by_image[images[1]]  # its own, shifted point
    assert "No candidate locations" in by_image[images[2]]
    # the settings never copy the candidates themselves into a run's recorded configuration
    assert geo.settings.model_dump()["candidates"] is None


def test_eval_with_candidates_sends_them_and_never_the_truth(
    server: ReplayServer, tmp_path: Path
) -> None:
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))[:8]
    manifest = tmp_path / "truth.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(truth[0]))
        writer.writeheader()
        writer.writerows(truth)
    baseline = write_baseline(tmp_path / "b.jsonl", [IMAGES / r["filename"] for r in truth])
    result = CliRunner().invoke(
        app,
        ["eval", str(manifest), "--images-root", str(IMAGES), "--base-url", server.base_url,
         "--model", "gpt-4o", "--template", "candidates", "--candidates", str(baseline),
         "--out", str(tmp_path / "run"), "--bootstrap", "20", "--no-cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n"] == 8 and metrics["config"]["template"] == "candidates"
    prompts = []
    for request in server.requests:
        body = json.loads(request.body)
        prompts.append(
            "\n".join(
                part["text"]
                for message in body["messages"]
                if isinstance(message["content"], list)
                for part in message["content"]
                if part.get("type") == "text"
            )
        )
    assert len(prompts) == 8
    assert all("A fast image classifier" in p and "1. Berlin, Germany" in p for p in prompts)
    sent = "\n".join(prompts)
    for row in truth:
        assert row["lat"][:7] not in sent and row["lng"][:7] not in sent
        assert f"{abs(float(row['lat'])):.2f}°" not in sent
