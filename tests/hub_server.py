"""A real HTTP server on 127.0.0.1 that speaks the part of the Hugging Face Hub protocol
``hf_hub_download`` uses: ``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` with the
commit, ETag and size headers. Point ``HF_ENDPOINT`` at :attr:`HubServer.url`.

It serves small files under a preset's real names, counts the requests it answered, and
can send its bytes slowly so a progress bar has something to show.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, files: dict[str, bytes], *, chunk_delay: float = 0.0) -> None:
        """``files``: ``"org/repo/file.gguf" -> content``."""
        self.files = files
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _find(self) -> bytes | None:
                server.requests.append((self.command, self.path))
                repo_and_rest = unquote(self.path.split("?", 1)[0]).lstrip("/")
                parts = repo_and_rest.split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                key = "/".join([parts[0], parts[1], *parts[4:]])
                return server.files.get(key)

            def _headers(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()

            def do_HEAD(self) -> None:
                body = self._find()
                if body is None:
                    self.send_error(404)
                    return
                self._headers(body)

            def do_GET(self) -> None:
                body = self._find()
                if body is None:
                    self.send_error(404)
                    return
                self._headers(body)
                step = max(1, len(body) // 8)
                for start in range(0, len(body), step):
                    self.wfile.write(body[start : start + step])
                    self.wfile.flush()
                    time.sleep(chunk_delay)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def gets(self) -> int:
        """File downloads answered (the client may also ask the API other things)."""
        return sum(1 for method, path in self.requests if method == "GET" and "/resolve/" in path)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
