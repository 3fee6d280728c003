"""``--backend ollama``: Ollama's OpenAI-compatible endpoint, no key, a clear error when no
server listens, the whole pipeline against a real local server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from ethan import Geolocator, Status, backend_names, create_backend
from ethan.backends.ollama import DEFAULT_URL, OllamaBackend, ollama_url
from ethan.errors import BackendConnectionError, EthanError
from tests.conftest import STREETVIEW
from tests.replay_server import ReplayServer

PHOTO = STREETVIEW / "images" / "8.jpg"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, DEFAULT_URL),
        ("", DEFAULT_URL),
        ("127.0.0.1:9999", "http://127.0.0.1:9999/v1"),
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("https://ollama.example.org:443", "https://ollama.example.org:443/v1"),
        ("http://10.0.0.5:11434/v1/", "http://10.0.0.5:11434/v1"),
        ("[::1]:8080", "http://[::1]:8080/v1"),
    ],
)
def test_ollama_host_is_honoured(host: str | None, url: str) -> None:
    assert ollama_url({} if host is None else {"OLLAMA_HOST": host}) == url


def test_registered_and_closed_port_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "ollama" in backend_names()
    port = _closed_port()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    with pytest.raises(BackendConnectionError) as info:
        create_backend("ollama")
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/v1" in message
    assert "ollama serve" in message and "ollama pull qwen2.5vl:3b" in message
    assert "OLLAMA_HOST" in message and "--base-url" in message
    assert isinstance(info.value, EthanError) and isinstance(info.value, ConnectionError)


def test_locates_through_a_local_server_without_sending_the_openai_key(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.base_url.removesuffix("/v1"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-must-stay-home")
    geo = Geolocator("ollama", model="gpt-4o", cache=False)
    assert geo.backend.identity()["backend"] == "ollama"
    assert geo.backend.identity()["base_url"] == server.base_url
    try:
        prediction = geo.locate(PHOTO)
    finally:
        geo.close()
    assert prediction.status is Status.OK, prediction.message
    assert prediction.lat is not None and prediction.model == "gpt-4o"
    assert server.matched == [Path(PHOTO).name]
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer EMPTY"


def test_base_url_wins_over_ollama_host(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_closed_port()}")
    backend = OllamaBackend("gpt-4o", base_url=server.base_url)
    assert backend.base_url == server.base_url
    asyncio.run(backend.aclose())
