"""A real OpenAI-compatible HTTP server on 127.0.0.1 that answers with recorded model text.

It speaks the chat-completions protocol over real HTTP, so the tests drive the real ``openai``
SDK end to end. The photo in each request is matched to a corpus image by its look (a tiny
grey thumbnail), because ethan re-encodes images before sending them; the ``model`` field of
the request picks whose recorded answers to play back (``responses/<model>.csv``).

Faults can be queued (status codes, headers, bodies) and every request is recorded, so tests
can assert what crossed the wire. ``server.reply`` may script answers the recordings cannot
hold (:class:`VerifyReplies` answers ethan's verification prompt by picking a listed
candidate). Run it by hand with::

    python tests/replay_server.py ../shared/corpus/streetview-dev --port 8000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import io
import json
import re
import socket
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

THUMB = 12
IMAGE_TOKENS = 765  # what GPT-4o bills for a 640 px photo at high detail


def thumbnail(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        grey = img.convert("L").resize((THUMB, THUMB), Image.Resampling.BILINEAR)
        return np.asarray(grey, dtype=np.float32).ravel()


@dataclass
class Fault:
    """One scripted reply that replaces the normal answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Send this many bytes of the body, then drop the connection (a reset mid-body).
    cut_after: int | None = None


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ReplayCorpus:
    """Recorded answers of several models to the images of one corpus folder."""

    def __init__(self, root: Path) -> None:
        csv.field_size_limit(1 << 30)
        self.root = root
        self.names = sorted(p.name for p in (root / "images").iterdir())
        self.thumbs = np.stack([thumbnail((root / "images" / n).read_bytes()) for n in self.names])
        self.answers: dict[str, dict[str, str]] = {}
        for path in sorted((root / "responses").glob("*.csv")):
            with path.open(newline="", encoding="utf-8") as fh:
                self.answers[path.stem] = {
                    row["filename"]: row["model_response"] for row in csv.DictReader(fh)
                }

    def match(self, image: bytes) -> str:
        distances = np.abs(self.thumbs - thumbnail(image)).mean(axis=1)
        return self.names[int(np.argmin(distances))]


_OPTION = re.compile(r"^(\d+)\. .*\(lat (-?\d+(?:\.\d+)?), lon (-?\d+(?:\.\d+)?)\)", re.M)


def prompt_text(request: dict[str, Any]) -> str:
    """The text parts of a chat request, joined."""
    return "\n".join(
        part.get("text", "")
        for message in request.get("messages", [])
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "text"
    )


class VerifyReplies:
    """Answers ethan's verification prompt (numbered candidates with ``(lat X, lon Y)``):
    picks one listed candidate per image (seeded by its name) and ranks it first by
    probability, though written second after another one. Other prompts get the recording.
    ``choices`` records each answer: image, the listed points, the number picked."""

    def __init__(self) -> None:
        self.choices: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any], image: str) -> str | None:
        listed = [(float(lat), float(lon)) for _, lat, lon in _OPTION.findall(prompt_text(request))]
        if not listed:
            return None
        pick = zlib.crc32(image.encode()) % len(listed) + 1
        other = pick % len(listed) + 1
        ranking = [{"candidate": pick, "probability": 0.6}]
        if other != pick:
            ranking.insert(0, {"candidate": other, "probability": 0.25})
        with self._lock:
            self.choices.append({"image": image, "listed": listed, "pick": pick})
        answer = {"reasoning": "replayed verification", "ranking": ranking}
        return f"Checked every candidate.\n```json\n{json.dumps(answer)}\n```"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # room for a client's whole first wave of connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a connection cut by kill() or by the client
        super().handle_error(request, client_address)


class ReplayServer:
    """Start with ``with ReplayServer(corpus) as server: server.base_url``."""

    def __init__(self, corpus: ReplayCorpus, *, port: int = 0, latency: float = 0.0) -> None:
        self.corpus = corpus
        self.latency = latency
        self.faults: deque[Fault] = deque()
        self.requests: list[Recorded] = []
        self.matched: list[str] = []
        #: (request body, matched image) -> text that replaces the recorded answer, or None
        self.reply: Callable[[dict[str, Any], str], str | None] | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def kill(self) -> None:
        """Die as a crashed server would: stop listening and cut every open connection,
        the requests in flight included."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def queue(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    # -- protocol --------------------------------------------------------------------------

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        model = request.get("model", "")
        if model not in self.corpus.answers:
            return 404, {"error": {"message": f"model {model!r} not found", "type": "invalid"}}
        images = [
            part["image_url"]["url"]
            for message in request.get("messages", [])
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]
        if not images:
            return 400, {"error": {"message": "no image in the request", "type": "invalid"}}
        data = base64.b64decode(images[-1].split(",", 1)[1])
        name = self.corpus.match(data)
        with self._lock:
            self.matched.append(name)
        text = self.corpus.answers[model].get(name, "")
        scripted = self.reply(request, name) if self.reply is not None else None
        text = text if scripted is None else scripted
        n = int(request.get("n") or 1)
        # A rough count: four characters a token, and a fixed price for each image.
        texts = [
            part.get("text", "") if isinstance(part, dict) else str(part)
            for message in request["messages"]
            for part in (
                message["content"] if isinstance(message["content"], list) else [message["content"]]
            )
        ]
        prompt_tokens = sum(len(t) for t in texts) // 4 + IMAGE_TOKENS * len(images)
        completion_tokens = max(1, len(text) // 4)
        body = {
            "id": f"chatcmpl-replay-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * n,
                "total_tokens": prompt_tokens + completion_tokens * n,
            },
        }
        return 200, body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _send(
                self,
                status: int,
                body: Any,
                headers: dict[str, str] | None = None,
                cut_after: int | None = None,
            ) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                # The client may have given up (a timeout test, a cancelled task).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if cut_after is None:
                        self.wfile.write(raw)
                    else:
                        self.wfile.write(raw[:cut_after])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model"} for m in server.corpus.answers]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                    fault = server.faults.popleft() if server.faults else None
                if server.latency:
                    time.sleep(server.latency)
                if fault is not None:
                    body = (
                        fault.body
                        if fault.body is not None
                        else {"error": {"message": f"injected {fault.status}", "type": "injected"}}
                    )
                    self._send(fault.status, body, fault.headers, fault.cut_after)
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                status, body = server.answer(json.loads(raw))
                self._send(status, body)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder with images/ and responses/*.csv")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with ReplayServer(ReplayCorpus(args.corpus), port=args.port) as server:
        print(f"serving {server.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
