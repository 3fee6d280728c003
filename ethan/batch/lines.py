"""Batch JSONL: request lines in, result lines out (the formats of the OpenAI Batch API).

An input line is ``{"custom_id", "method": "POST", "url", "body"}``; a line of the output or
error file is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
"error": {"code", "message"} | null}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ethan.batch.state import ENDPOINT, BatchLimits


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One encoded input line (with its newline)."""
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class PartWriter:
    """Writes request lines to numbered JSONL files, starting a new one at the limits.

    Lines of one image are kept together in one file.
    """

    def __init__(self, folder: Path, prefix: str, limits: BatchLimits, first: int = 1) -> None:
        self.folder = folder
        self.prefix = prefix
        self.limits = limits
        self.number = first
        self.custom_ids: list[str] = []
        self.size = 0
        self._fh: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.prefix}-{self.number:04d}.jsonl"

    def fits(self, lines: list[bytes]) -> bool:
        """Whether these lines go into the open file (False: close it first)."""
        if not self.custom_ids:
            return True
        size = sum(len(line) for line in lines)
        return (
            len(self.custom_ids) + len(lines) <= self.limits.max_requests
            and self.size + size <= self.limits.max_bytes
        )

    def too_big(self, lines: list[bytes]) -> bool:
        """Whether these lines exceed a file's limits even alone."""
        size = sum(len(line) for line in lines)
        return len(lines) > self.limits.max_requests or size > self.limits.max_bytes

    def add(self, custom_ids: list[str], lines: list[bytes]) -> None:
        """Append the lines (blocking I/O: call it in a thread)."""
        if self._fh is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fh = (self.folder / self.name).open("wb")
        for line in lines:
            self._fh.write(line)
        self.custom_ids.extend(custom_ids)
        self.size += sum(len(line) for line in lines)

    def close(self) -> tuple[str, list[str]] | None:
        """Finish the open file (flushed to disk); its name and request ids, or None."""
        if self._fh is None:
            return None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        done = (self.name, self.custom_ids)
        self.number += 1
        self.custom_ids = []
        self.size = 0
        return done


@dataclass
class ResultLine:
    """One request's outcome from an output or error file."""

    custom_id: str
    body: dict[str, Any] | None
    error: str | None


def read_results(path: Path) -> Iterator[ResultLine]:
    """The lines of a downloaded output or error file (blocking: iterate in a thread)."""
    with path.open("r", encoding="utf-8") as fh:
        for text in fh:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                custom_id = str(line["custom_id"])
            except (ValueError, KeyError, TypeError):
                continue
            yield _result(custom_id, line)


def _result(custom_id: str, line: dict[str, Any]) -> ResultLine:
    response = line.get("response")
    error = line.get("error")
    if isinstance(response, dict) and response.get("status_code") == 200:
        body = response.get("body")
        if isinstance(body, dict):
            return ResultLine(custom_id, body, None)
        return ResultLine(custom_id, None, "the batch answered with an empty body")
    if isinstance(response, dict):
        status = response.get("status_code")
        body = response.get("body")
        detail = body.get("error") if isinstance(body, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else None
        return ResultLine(custom_id, None, f"HTTP {status} from the Batch API: {message or body}")
    if isinstance(error, dict):
        code = error.get("code") or "error"
        return ResultLine(custom_id, None, f"{code}: {error.get('message') or ''}".strip())
    return ResultLine(custom_id, None, "the batch gave no response for this request")
