"""The Files and Batches endpoints, through the OpenAI backend's own SDK client.

Each call is retried on the errors the live path retries (429, 5xx, timeouts, dropped
connections) and its errors are ethan's (:mod:`ethan.errors`), the API key blanked out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ethan.backends.base import Backend
from ethan.backends.openai import RETRYABLE, OpenAIBackend
from ethan.batch.state import ENDPOINT
from ethan.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


class BatchInfo(BaseModel):
    """What the API says about one batch."""

    id: str
    status: str
    created_at: int = 0
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    total: int = 0
    errors: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_sdk(cls, batch: Any) -> BatchInfo:
        counts = batch.request_counts
        errors = []
        if batch.errors is not None and batch.errors.data:
            for error in batch.errors.data:
                where = f" (line {error.line})" if error.line is not None else ""
                errors.append(f"{error.code or 'error'}: {error.message or ''}{where}")
        return cls(
            id=batch.id,
            status=batch.status,
            created_at=batch.created_at or 0,
            input_file_id=batch.input_file_id,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            total=counts.total if counts else 0,
            errors=errors,
            metadata=dict(batch.metadata or {}),
        )


def openai_backend(backend: Backend) -> OpenAIBackend:
    """The backend itself if it speaks the OpenAI API, else a clear error."""
    if not isinstance(backend, OpenAIBackend):
        raise ConfigError(f"the Batch API needs the openai backend; this run uses {backend.name!r}")
    return backend


class BatchClient:
    """Thin async calls on the Files and Batches API."""

    def __init__(self, backend: OpenAIBackend) -> None:
        self.backend = backend
        self._client = backend.client
        self._attempts = backend.options.max_attempts
        self._wait = wait_random_exponential(multiplier=0.5, max=backend.options.max_retry_wait)

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    return await make()
                except openai.OpenAIError as exc:
                    error = self.backend.translate_error(exc)
                    log.info("%s failed: %s", what, error)
                    raise error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def upload(self, path: Path) -> str:
        """Upload a JSONL input file (purpose ``batch``); its file id."""
        created = await self._call(
            f"uploading {path.name}",
            lambda: self._client.files.create(file=path, purpose="batch"),
        )
        return str(created.id)

    async def create(self, file_id: str, metadata: dict[str, str]) -> BatchInfo:
        batch = await self._call(
            f"creating a batch from {file_id}",
            lambda: self._client.batches.create(
                input_file_id=file_id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata=metadata,
            ),
        )
        return BatchInfo.from_sdk(batch)

    async def retrieve(self, batch_id: str) -> BatchInfo:
        batch = await self._call(
            f"reading batch {batch_id}", lambda: self._client.batches.retrieve(batch_id)
        )
        return BatchInfo.from_sdk(batch)

    async def cancel(self, batch_id: str) -> BatchInfo:
        batch = await self._call(
            f"cancelling batch {batch_id}", lambda: self._client.batches.cancel(batch_id)
        )
        return BatchInfo.from_sdk(batch)

    async def list(self, limit: int = 20) -> list[BatchInfo]:
        """The account's most recent batches, newest first (follows the pages)."""
        found: list[BatchInfo] = []

        async def page() -> list[BatchInfo]:
            found.clear()
            async for batch in self._client.batches.list(limit=min(limit, 100)):
                found.append(BatchInfo.from_sdk(batch))
                if len(found) >= limit:
                    break
            return found

        return await self._call("listing batches", page)

    async def find_file(self, filename: str) -> str | None:
        """The id of an uploaded batch file of that name (a crash may have hidden it)."""

        async def scan() -> str | None:
            async for info in self._client.files.list(purpose="batch"):
                if info.filename == filename:
                    return str(info.id)
            return None

        return await self._call("listing files", scan)

    async def find_batch(self, metadata: dict[str, str], since: float) -> BatchInfo | None:
        """A batch created after ``since`` whose metadata holds ``metadata``."""

        async def scan() -> BatchInfo | None:
            async for batch in self._client.batches.list(limit=100):
                if batch.created_at < since:
                    return None  # newest first: the rest is older
                tags = dict(batch.metadata or {})
                if all(tags.get(k) == v for k, v in metadata.items()):
                    return BatchInfo.from_sdk(batch)
            return None

        return await self._call("listing batches", scan)

    async def download(self, file_id: str, target: Path) -> Path:
        """Stream a file's content to ``target`` (output files can be large)."""

        async def fetch() -> Path:
            streaming = self._client.files.with_streaming_response
            async with streaming.content(file_id) as response:
                await response.stream_to_file(target)
            return target

        return await self._call(f"downloading {file_id}", fetch)
