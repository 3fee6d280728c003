"""Serving a local model with ``python -m llama_cpp.server`` and pointing our OpenAI backend
at it: the path vLLM and Ollama users take, here with the real llama.cpp engine, the real
270M model and the tiny vision projector, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ethan-geo[local])")
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")

from PIL import Image

from ethan import Geolocator, Prediction, Status
from ethan.backends.base import GenerateConfig, ImagePart, Message, ModelOutput, TextPart
from ethan.backends.openai import OpenAIBackend
from ethan.images import prepare_image
from ethan.types import ModelAnswer
from tests.conftest import STREETVIEW
from tests.tiny_mmproj import build_tiny_mmproj, gemma_270m

MODEL = "gemma-270m"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    projector = build_tiny_mmproj(tmp_path_factory.mktemp("mmproj") / "tiny-mmproj.gguf")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_270m()),
        "--model_alias", MODEL, "--clip_model_path", str(projector),
        "--chat_format", "llava-1-5", "--n_ctx", "2048", "--host", "127.0.0.1",
        "--port", str(port), "--verbose", "false",
    ]  # fmt: skip
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _photo(color: tuple[int, int, int]) -> ImagePart:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28), color).save(buffer, "PNG")
    return prepare_image(buffer.getvalue(), max_side=28).part()


def _generate(base_url: str, messages: list[Message], **options: object) -> ModelOutput:
    async def go() -> ModelOutput:
        backend = OpenAIBackend(MODEL, base_url=base_url, max_attempts=1, **options)  # type: ignore[arg-type]
        try:
            return await backend.generate(messages, GenerateConfig(max_tokens=8, seed=1))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_text_turns_through_the_server(server: str) -> None:
    chat = [
        Message.text("system", "Answer briefly."),
        Message.text("user", "Name a city in Peru."),
        Message.text("assistant", "Lima."),
        Message.text("user", "And one in Chile?"),
    ]
    out = _generate(server, chat)
    assert out.model == MODEL
    assert out.choices[0].text and out.choices[0].finish_reason in ("stop", "length")
    assert 0 < out.usage.completion_tokens <= 8 and out.usage.prompt_tokens > 20


def test_photos_through_the_server(server: str) -> None:
    def ask(*images: ImagePart) -> int:
        message = Message(role="user", content=[TextPart(text="Where is this?"), *images])
        return _generate(server, [message]).usage.prompt_tokens

    one, two = ask(_photo((200, 0, 0))), ask(_photo((200, 0, 0)), _photo((0, 0, 200)))
    assert two - one == 4, "each 28 px photo is 4 tokens for the server too"


def test_the_server_refuses_json_schema_response_format(server: str) -> None:
    """llama_cpp.server knows only response_format "text" and "json_object" (with an
    optional schema): a json_schema request fails, hence ``-o response_format=json_object``."""
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Where?"}],
        "max_tokens": 4,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
    }
    reply = httpx.post(f"{server}/chat/completions", json=request, timeout=60)
    assert reply.status_code >= 400
    assert "response_format" in reply.text
    request["response_format"] = {"type": "json_object", "schema": ModelAnswer.model_json_schema()}
    reply = httpx.post(f"{server}/chat/completions", json=request, timeout=60)
    assert reply.status_code == 200


def test_pipeline_against_the_server(server: str) -> None:
    photos = sorted((STREETVIEW / "images").iterdir())[:2]
    geo = Geolocator(
        "openai",
        model=MODEL,
        backend_options={"base_url": server, "response_format": "json_object", "max_attempts": 1},
        cache=False,
        max_tokens=64,
        max_side=128,
    )

    async def run() -> list[Prediction]:
        try:
            return [p async for p in geo.locate_many(photos, concurrency=2)]
        finally:
            await geo.aclose()

    predictions = asyncio.run(run())
    assert len(predictions) == 2
    for p in predictions:
        assert p.status is not Status.ERROR, p.message
        assert p.model == MODEL and p.usage.prompt_tokens > 300
        assert Prediction.model_validate_json(p.to_json_line()) == p
        if p.finish_reasons == ["stop"]:
            json.loads(p.raw[0])  # json_object mode: whatever it wrote is JSON
