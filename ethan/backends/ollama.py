"""Ollama (``--backend ollama``): its OpenAI-compatible endpoint, with no key and a clear
error when no Ollama server listens.

The server is ``OLLAMA_HOST`` (Ollama's own variable: ``host``, ``host:port`` or a URL)
or ``http://127.0.0.1:11434``, and ``/v1`` on it; ``base_url=`` (``--base-url``) wins. The
OpenAI key is never sent to it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from ethan.backends.openai import NO_KEY, OpenAIBackend, OpenAIOptions
from ethan.errors import BackendConnectionError

DEFAULT_URL = "http://127.0.0.1:11434/v1"
DEFAULT_PORT = 11434
#: Ollama's tag of the same model as the embedded default (Qwen2.5-VL 3B).
DEFAULT_MODEL = "qwen2.5vl:3b"
CONNECT_TIMEOUT = 3.0


def ollama_url(environ: Mapping[str, str] | None = None) -> str:
    """The OpenAI-compatible URL of the Ollama server named by ``OLLAMA_HOST``."""
    env = os.environ if environ is None else environ
    host = (env.get("OLLAMA_HOST") or "").strip()
    if not host:
        return DEFAULT_URL
    parsed = urlparse(host if "://" in host else f"http://{host}")
    name = parsed.hostname or "127.0.0.1"
    if name in ("0.0.0.0", "::"):  # a bind-everything address: the server is local
        name = "127.0.0.1"
    if ":" in name:
        name = f"[{name}]"
    port = parsed.port or DEFAULT_PORT
    path = parsed.path.rstrip("/").removesuffix("/v1")
    return f"{parsed.scheme or 'http'}://{name}:{port}{path}/v1"


class OllamaBackend(OpenAIBackend):
    """An Ollama server through its OpenAI-compatible API.

    ``check`` (default on) opens a TCP connection to the server once, at construction, so
    that a server that is not running stops the run at once with what to do, rather than
    failing every image after retries.
    """

    name = "ollama"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        options: OpenAIOptions | None = None,
        check: bool = True,
        **option_overrides: Any,
    ) -> None:
        super().__init__(
            model,
            base_url=base_url or ollama_url(),
            api_key=api_key or NO_KEY,
            options=options,
            **option_overrides,
        )
        if check:
            self.check_server()

    def check_server(self) -> None:
        """Raise :class:`BackendConnectionError` when nothing listens at the server."""
        parsed = urlparse(self.base_url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        host = parsed.hostname or "127.0.0.1"
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
                pass
        except OSError as exc:
            raise BackendConnectionError(
                f"no Ollama server answers at {self.base_url} ({exc.strerror or exc}): start "
                f"it with `ollama serve` and fetch a vision model with `ollama pull "
                f"{self.model}`, or point OLLAMA_HOST or --base-url at the server"
            ) from None
