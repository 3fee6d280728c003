"""The OpenAI backend over real HTTP against a local server: protocol, retries, errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from ethan.backends.base import GenerateConfig, ImagePart, Message, TextPart, create_backend
from ethan.backends.openai import OpenAIBackend
from ethan.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    InvalidResponseError,
    MissingAPIKeyError,
    RateLimitError,
    ServerError,
)
from ethan.images import prepare_image
from tests.conftest import STREETVIEW
from tests.replay_server import Fault, ReplayServer

IMAGE = STREETVIEW / "images" / "8.jpg"


def _messages() -> list[Message]:
    prepared = prepare_image(IMAGE)
    return [Message(role="user", content=[TextPart(text="Where is this?"), prepared.part()])]


def _backend(server: ReplayServer, **options: object) -> OpenAIBackend:
    options.setdefault("max_retry_wait", 0.05)
    return OpenAIBackend("gpt-4o", base_url=server.base_url, **options)  # type: ignore[arg-type]


def _generate(backend: OpenAIBackend, config: GenerateConfig | None = None) -> object:
    async def go() -> object:
        try:
            return await backend.generate(_messages(), config or GenerateConfig())
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_answers_with_the_recorded_text_for_the_matching_image(server: ReplayServer) -> None:
    out = _generate(_backend(server))
    assert server.matched == ["8.jpg"]
    assert out.choices[0].text == server.corpus.answers["gpt-4o"]["8.jpg"]  # type: ignore[attr-defined]
    assert out.choices[0].finish_reason == "stop"  # type: ignore[attr-defined]
    assert out.usage.total_tokens > 0  # type: ignore[attr-defined]
    body = server.requests[0].json()
    parts = body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Where is this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert server.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_sends_the_schema_and_falls_back_to_text_when_rejected(server: ReplayServer) -> None:
    server.queue(Fault(400, {"error": {"message": "response_format json_schema not supported"}}))
    config = GenerateConfig(json_schema={"type": "object"})
    backend = _backend(server)
    _generate(backend, config)
    first, second = (r.json() for r in server.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert "response_format" not in second


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retries_transient_errors(server: ReplayServer, status: int) -> None:
    server.queue(Fault(status), Fault(status))
    out = _generate(_backend(server))
    assert len(server.requests) == 3
    assert out.choices[0].text  # type: ignore[attr-defined]


def test_honours_retry_after(server: ReplayServer) -> None:
    server.queue(Fault(429, headers={"Retry-After": "1"}))
    started = time.perf_counter()
    _generate(_backend(server, max_retry_wait=5.0))
    assert time.perf_counter() - started >= 0.95
    assert len(server.requests) == 2


def test_gives_up_after_the_attempt_budget(server: ReplayServer) -> None:
    server.queue(*[Fault(429, headers={"retry-after-ms": "1"})] * 10)
    with pytest.raises(RateLimitError) as info:
        _generate(_backend(server, max_attempts=3))
    assert len(server.requests) == 3
    assert info.value.status_code == 429


def test_server_error_keeps_status_and_body(server: ReplayServer) -> None:
    server.queue(*[Fault(500, {"error": {"message": "boom"}})] * 2)
    with pytest.raises(ServerError) as info:
        _generate(_backend(server, max_attempts=2))
    assert info.value.status_code == 500
    assert "boom" in str(info.value.body)


@pytest.mark.parametrize("status", [401, 403])
def test_never_retries_auth_errors(server: ReplayServer, status: int) -> None:
    server.queue(Fault(status, {"error": {"message": "invalid key"}}))
    with pytest.raises(AuthenticationError) as info:
        _generate(_backend(server))
    assert len(server.requests) == 1
    assert isinstance(info.value, PermissionError)
    assert "OPENAI_API_KEY" in str(info.value)


def test_never_retries_bad_requests(server: ReplayServer) -> None:
    server.queue(Fault(400, {"error": {"message": "image too large"}}))
    with pytest.raises(BadRequestError):
        _generate(_backend(server))
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(corpus: object) -> None:
    from tests.replay_server import ReplayCorpus

    assert isinstance(corpus, ReplayCorpus)
    with ReplayServer(corpus, latency=0.5) as slow:
        backend = OpenAIBackend(
            "gpt-4o", base_url=slow.base_url, timeout=0.1, max_attempts=2, max_retry_wait=0.01
        )
        with pytest.raises(TimeoutError):
            _generate(backend)
        assert len(slow.requests) == 2


def test_connection_refused_is_a_connection_error() -> None:
    backend = OpenAIBackend(
        "gpt-4o", base_url="http://127.0.0.1:9/v1", max_attempts=2, max_retry_wait=0.01
    )
    with pytest.raises(ConnectionError):
        _generate(backend)


def test_samples_use_n(server: ReplayServer) -> None:
    out = _generate(_backend(server), GenerateConfig(n=3))
    assert len(out.choices) == 3  # type: ignore[attr-defined]
    assert server.requests[0].json()["n"] == 3


def test_servers_that_ignore_n_are_asked_again(server: ReplayServer) -> None:
    one = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris"},
                "finish_reason": "stop",
            }
        ],
    }
    server.queue(Fault(200, one))
    out = _generate(_backend(server), GenerateConfig(n=2))
    assert len(out.choices) == 2  # type: ignore[attr-defined]
    assert [r.json().get("n") for r in server.requests] == [2, None]


def test_missing_key_for_the_official_api_names_the_fix() -> None:
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o")


def test_constructor_arguments_beat_environment(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    backend = OpenAIBackend("gpt-4o", base_url=server.base_url, api_key="sk-from-arg")
    _generate(backend)
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-arg"


def test_environment_supplies_url_and_key(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    _generate(create_backend("openai", model="gpt-4o"))  # type: ignore[arg-type]
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"


def test_bad_base_url_and_unknown_backend_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        OpenAIBackend("gpt-4o", base_url="127.0.0.1:8000")
    with pytest.raises(ConfigError, match="openai"):
        create_backend("no-such-backend")


def test_image_part_fingerprint_hides_bytes() -> None:
    part = ImagePart(data=b"abc", sha256="f" * 64)
    message = Message(role="user", content=[part])
    assert message.fingerprint() == {"role": "user", "content": [{"image": "f" * 64}]}


def test_request_body_and_completion_conversion_are_the_live_paths() -> None:
    backend = OpenAIBackend("gpt-4o", base_url="http://127.0.0.1:9/v1")
    config = GenerateConfig(temperature=0.2, max_tokens=50, seed=3, json_schema={"type": "object"})
    body = backend.request_body(_messages(), config, 2)
    assert body["model"] == "gpt-4o" and body["n"] == 2 and body["seed"] == 3
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert "n" not in backend.request_body(_messages(), config, 1)
    out = backend.output_from_completion(
        {
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"},
                {"message": {"role": "assistant", "content": None}, "finish_reason": "length"},
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        }
    )
    assert [c.text for c in out.choices] == ["Paris", ""]
    assert [c.finish_reason for c in out.choices] == ["stop", "length"]
    assert out.model == "gpt-4o-2024-08-06" and out.usage.total_tokens == 14
    with pytest.raises(InvalidResponseError, match="no choices"):
        backend.output_from_completion({"choices": []})
