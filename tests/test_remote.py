"""Images by URL: http(s) only, size-capped, time-limited; each failure a clear per-image error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ethan import Geolocator, ImageError, Prediction, Status
from ethan.remote import fetch_image
from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import ReplayServer

PHOTO = (STREETVIEW / "images" / "8.jpg").read_bytes()


class _Images(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/8.jpg":
            self._reply(200, PHOTO)
        elif self.path == "/redirect.jpg":
            self.send_response(302)
            self.send_header("Location", "/8.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/declared-huge.jpg":
            self.send_response(200)
            self.send_header("Content-Length", str(10**10))
            self.end_headers()
            self.wfile.write(b"\xff\xd8" * 1000)
        elif self.path == "/endless.jpg":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(200):  # 13 MB at most, far over the test's cap
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                return
        elif self.path == "/slow.jpg":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            try:
                for i in range(0, len(PHOTO), 1000):
                    self.wfile.write(PHOTO[i : i + 1000])
                    self.wfile.flush()
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError):
                return
        else:
            self._reply(404, b"not here")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def images_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fetch(url: str, **kwargs: float) -> bytes:
    return asyncio.run(fetch_image(url, **kwargs))  # type: ignore[arg-type]


def test_fetches_http_and_follows_redirects(images_url: str) -> None:
    assert _fetch(f"{images_url}/8.jpg") == PHOTO
    assert _fetch(f"{images_url}/redirect.jpg") == PHOTO


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/declared-huge.jpg", "cap"),
        ("/endless.jpg", "cap"),
        ("/slow.jpg", "within"),
        ("/missing.jpg", "HTTP 404"),
    ],
)
def test_each_failure_is_an_image_error(images_url: str, path: str, words: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ImageError, match=words):
        _fetch(f"{images_url}{path}", max_bytes=1_000_000, timeout=1.0)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/a.jpg", "gopher://x/y", "http://"]
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(ImageError, match="only http"):
        _fetch(url)


def test_locate_by_url_through_the_cli(
    images_url: str, server: ReplayServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    run = run_ethan(
        "locate", f"{images_url}/8.jpg", f"{images_url}/missing.jpg", "file:///etc/hosts",
        "--base-url", server.base_url, "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    by_image = {p.image: p for p in map(Prediction.model_validate_json, out.open())}
    assert by_image[f"{images_url}/8.jpg"].status is Status.OK
    assert server.matched == ["8.jpg"]
    assert by_image[f"{images_url}/missing.jpg"].status is Status.ERROR
    assert "only http" in by_image["file:///etc/hosts"].message


def test_replay_matches_a_url_by_its_file_name(images_url: str) -> None:
    geo = Geolocator(
        "replay", backend_options={"responses": STREETVIEW / "responses" / "gpt-4o.csv"},
        cache=False,
    )  # fmt: skip
    with geo:
        prediction = geo.locate(f"{images_url}/8.jpg")
    assert prediction.status is Status.OK
    assert prediction.lat == pytest.approx(-37.8136)
