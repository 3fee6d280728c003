"""Photos through llama.cpp's multimodal path for real: a random-weight CLIP projector
(built here with ``gguf``) feeding the real Gemma 3 270M model, through llama-cpp-python's
LLaVA-1.5 and generic mtmd chat handlers, then our whole pipeline and the CLI.

The answers are noise; what is checked is that each image is encoded and consumed (the
prompt grows by exactly its tokens) and that ethan turns whatever comes back into
well-formed predictions.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ethan-geo[local])")

from PIL import Image

from ethan import Geolocator, Prediction, Status
from ethan.backends.base import GenerateConfig, ImagePart, Message, ModelOutput, TextPart
from ethan.backends.llama_cpp import ContextTooSmallError, LlamaCppBackend
from ethan.images import prepare_image
from tests.conftest import STREETVIEW
from tests.tiny_mmproj import GEMMA_TEMPLATE, build_tiny_mmproj, gemma_270m

PHOTOS = sorted((STREETVIEW / "images").iterdir())[:2]
IMAGE_TOKENS = 4  # 28 px image, 14 px patches: a 2 x 2 grid


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_mmproj(tmp_path_factory.mktemp("mmproj") / "tiny-mmproj.gguf")


@pytest.fixture(scope="module")
def llava(projector: Path) -> LlamaCppBackend:
    backend = LlamaCppBackend(str(gemma_270m()), mmproj=projector, n_ctx=2048, max_string=60)
    assert backend.handler == "llava-1-5"  # chosen from the projector's metadata
    backend.load()
    return backend


def _part(color: tuple[int, int, int], size: int = 28) -> ImagePart:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, "PNG")
    return prepare_image(buffer.getvalue(), max_side=size).part()


def _ask(backend: LlamaCppBackend, *images: ImagePart, max_tokens: int = 4) -> ModelOutput:
    content: list[TextPart | ImagePart] = [TextPart(text="Where was this photo taken?")]
    message = Message(role="user", content=[*content, *images])
    config = GenerateConfig(max_tokens=max_tokens, temperature=0.0, seed=1)
    return asyncio.run(backend.generate([message], config))


def test_each_image_adds_its_tokens_to_the_prompt(llava: LlamaCppBackend) -> None:
    text_only = _ask(llava).usage.prompt_tokens
    one = _ask(llava, _part((200, 30, 30))).usage.prompt_tokens
    two = _ask(llava, _part((200, 30, 30)), _part((20, 30, 200))).usage.prompt_tokens
    assert one > text_only  # (the text around the image marker tokenizes a little apart)
    assert two - one == IMAGE_TOKENS, "the second image adds exactly its 2 x 2 patches"


def test_the_image_reaches_the_model(llava: LlamaCppBackend) -> None:
    """Same prompt, different pixels: the embeddings differ, so the logits do."""
    config = GenerateConfig(max_tokens=8, temperature=0.0, seed=1)
    answers = set()
    for color in ((255, 255, 255), (0, 0, 0), (250, 120, 0)):
        message = Message(role="user", content=[TextPart(text="Describe it."), _part(color)])
        answers.add(asyncio.run(llava.generate([message], config)).choices[0].text)
    assert len(answers) > 1


def test_generic_mtmd_handler_with_a_supplied_template(projector: Path) -> None:
    mtmd = LlamaCppBackend(
        str(gemma_270m()), mmproj=projector, chat_template=GEMMA_TEMPLATE, n_ctx=1024
    )
    assert mtmd.handler == "mtmd"
    one = _ask(mtmd, _part((10, 200, 10)))
    two = _ask(mtmd, _part((10, 200, 10)), _part((10, 10, 200)))
    assert two.usage.prompt_tokens - one.usage.prompt_tokens == IMAGE_TOKENS
    assert one.choices[0].finish_reason in ("stop", "length")


def test_pipeline_returns_well_formed_predictions(llava: LlamaCppBackend) -> None:
    geo = Geolocator(llava, cache=False, max_tokens=280, max_side=256, seed=2, samples=2)

    async def run() -> list[Prediction]:
        try:
            return [p async for p in geo.locate_many(PHOTOS, concurrency=2)]
        finally:
            await geo.aclose()

    predictions = asyncio.run(run())
    assert sorted(Path(p.image).name for p in predictions) == sorted(p.name for p in PHOTOS)
    for p in predictions:
        assert Prediction.model_validate_json(p.to_json_line()) == p
        assert p.status in (Status.OK, Status.UNPARSED), p.message
        assert p.model == "gemma-3-270m-q4_k_m.gguf"
        assert len(p.raw) == 2 and p.finish_reasons == ["stop", "stop"]
        for raw in p.raw:
            assert list(json.loads(raw)) == ["reasoning", "clues", "guesses"]
        assert p.usage.prompt_tokens > 2 * 300, "the gps prompt and the photo, per sample"
        assert p.image_sha256 and p.latency_s is not None and p.latency_s > 0
        if p.status is Status.OK:
            assert p.lat is not None and p.lon is not None and p.hypotheses
        else:
            assert p.lat is None and p.message


def test_context_too_small_for_the_photo_stops_the_run(projector: Path) -> None:
    small = LlamaCppBackend(str(gemma_270m()), mmproj=projector, n_ctx=256)
    geo = Geolocator(small, cache=False, max_tokens=200)
    with pytest.raises(ContextTooSmallError) as info:
        geo.locate(PHOTOS[0])
    geo.close()
    message = str(info.value)
    assert "n_ctx=256" in message and "1 image(s) × about 4 tokens" in message


def test_cli_locates_with_a_local_model(projector: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    template = tmp_path / "short.j2"  # a short prompt keeps this test quick on a CPU
    template.write_text("Where was this photo taken? Answer with JSON:\n{{ output_contract }}")
    args = [
        "locate", *map(str, PHOTOS[:2]), "--backend", "llama-cpp", "--template", str(template),
        "--model", str(gemma_270m()), "--mmproj", str(projector), "--n-ctx", "2048",
        "--max-tokens", "270", "--max-side", "128", "--seed", "4", "--concurrency", "2",
        "--out", str(out), "--no-cache", "-o", "max_string=30",
    ]  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "ethan", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [Prediction.model_validate_json(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2
    assert all(p.model == "gemma-3-270m-q4_k_m.gguf" and p.usage.prompt_tokens for p in lines)
    assert "completion tokens/s" in run.stderr
