"""Images given as http(s) URLs: fetched with a size cap and a time limit, nothing else.

Only ``http`` and ``https`` are accepted (no ``file:``, ``ftp:``, ``data:``...). The body is
streamed and abandoned as soon as it exceeds the cap, so a huge or endless response cannot
exhaust memory; the whole fetch has one deadline, so a server that trickles bytes cannot
stall a run.
"""

from __future__ import annotations

import asyncio
from typing import TypeGuard
from urllib.parse import urlparse

import httpx

from ethan.errors import ImageError

MAX_BYTES = 25 * 1024 * 1024
TIMEOUT_S = 30.0


def is_url(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string that looks like a URL (any scheme, to reject clearly)."""
    return isinstance(value, str) and "://" in value[:16]


async def fetch_image(url: str, *, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_S) -> bytes:
    """Download an image; every failure is an :class:`ImageError` naming the URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ImageError(f"{url}: only http(s) URLs are accepted")
    try:
        return await asyncio.wait_for(_download(url, max_bytes, timeout), timeout)
    except (TimeoutError, asyncio.TimeoutError):
        raise ImageError(f"{url}: no complete answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ImageError(f"{url}: download failed ({type(exc).__name__}: {exc})") from None


async def _download(url: str, max_bytes: int, timeout: float) -> bytes:
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=True, max_redirects=5) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise ImageError(f"{url}: HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise ImageError(f"{url}: {int(declared):,} bytes is over the {max_bytes:,} cap")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ImageError(f"{url}: more than the {max_bytes:,}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)
