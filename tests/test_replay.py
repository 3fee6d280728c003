"""The replay backend: recorded answers matched by image file name."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ethan import ConfigError, Geolocator, ReplayBackend, Status
from ethan.backends.base import GenerateConfig, ImagePart, Message, TextPart
from ethan.errors import BackendError
from tests.conftest import SHARED, STREETVIEW

IMAGEO = SHARED / "corpus" / "imageo-d3" / "responses" / "dataset3_gpt-4.1.jsonl"


def _ask(backend: ReplayBackend, name: str | None, n: int = 1) -> list[str]:
    part = ImagePart(data=b"\xff\xd8", sha256="0" * 64, name=name)
    messages = [Message(role="user", content=[TextPart(text="where?"), part])]
    out = asyncio.run(backend.generate(messages, GenerateConfig(n=n)))
    return [c.text for c in out.choices]


def test_csv_answers_by_file_name_and_stem() -> None:
    backend = ReplayBackend(STREETVIEW / "responses" / "llava-v1.6-mistral-7b.csv")
    assert backend.model == "llava-v1.6-mistral-7b"
    assert len(backend) > 150
    by_name = _ask(backend, "8.jpg")
    assert by_name == _ask(backend, "8.png")  # matched by stem when the name differs
    assert "Cologne" in by_name[0]
    assert len(_ask(backend, "8.jpg", n=3)) == 3


def test_jsonl_with_usage() -> None:
    backend = ReplayBackend(IMAGEO, model="gpt-4.1")
    first = json.loads(IMAGEO.read_text(encoding="utf-8").splitlines()[0])
    part = ImagePart(data=b"", sha256="0" * 64, name=first["image_file"])
    out = asyncio.run(backend.generate([Message(role="user", content=[part])], GenerateConfig()))
    assert out.choices[0].text == first["raw_response"]
    assert out.usage.prompt_tokens == first["usage_info"]["input_tokens"] > 0
    assert out.usage.completion_tokens == first["usage_info"]["output_tokens"]


def test_unknown_image_and_bytes_are_errors() -> None:
    backend = ReplayBackend(STREETVIEW / "responses" / "gpt-4o.csv")
    with pytest.raises(BackendError, match="no recorded answer"):
        _ask(backend, "nope.jpg")
    with pytest.raises(BackendError, match="file name"):
        _ask(backend, None)


def test_missing_or_empty_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ReplayBackend(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("filename,model_response\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        ReplayBackend(empty)


def test_geolocator_on_replay_parses_what_the_model_wrote(tmp_path: Path) -> None:
    geo = Geolocator(
        "replay", backend_options={"responses": STREETVIEW / "responses" / "gpt-4o.csv"},
        cache=False,
    )  # fmt: skip
    with geo:
        prediction = geo.locate(STREETVIEW / "images" / "8.jpg")
        missing = tmp_path / "unknown.jpg"
        missing.write_bytes((STREETVIEW / "images" / "8.jpg").read_bytes())
        unknown = geo.locate(missing)
    assert prediction.status is Status.OK
    assert prediction.lat == pytest.approx(-37.8136) and prediction.lon == pytest.approx(144.9631)
    assert unknown.status is Status.ERROR and "unknown.jpg" in unknown.message
