"""Answers from recorded model text, matched to images by name: re-score a paper's outputs
with ethan's parser, geocoder and aggregator, at no cost.

Names are matched by :class:`ethan.identity.KeyIndex`: the recorded ``a/photo.jpg`` answers
``/data/a/photo.jpg`` and never ``/data/b/photo.jpg``; a bare ``photo.jpg`` that fits two
images answers neither.

Accepted files: CSV with ``filename,model_response`` (or other usual column names), or JSONL
with one object per line (``image_file``/``filename``/``image``/``id`` and
``raw_response``/``model_response``/``response``/``text``; optional ``usage_info``/``usage``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ethan.backends.base import Choice, GenerateConfig, ImagePart, Message, ModelOutput
from ethan.errors import BackendError, ConfigError
from ethan.fields import cli
from ethan.identity import KeyIndex
from ethan.types import Usage

NAME_KEYS = ("filename", "file_name", "image_file", "image", "file", "image_id", "id", "img_id")
TEXT_KEYS = ("model_response", "raw_response", "response", "text", "output", "answer")


class ReplayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: Path | None = Field(
        default=None,
        description="Recorded answers (CSV/JSONL) for --backend replay.",
        json_schema_extra=cli("Model and prompt"),
    )


class ReplayBackend:
    """A backend that plays back recorded answers instead of calling a model."""

    name = "replay"
    Options = ReplayOptions

    def __init__(self, responses: str | Path | None = None, model: str | None = None) -> None:
        if responses is None:
            raise ConfigError("the replay backend needs --responses FILE (CSV or JSONL)")
        path = Path(responses)
        if not path.is_file():
            raise ConfigError(f"--responses file not found: {path}")
        self.path = path
        self.model = model or path.stem
        rows = (
            _jsonl_rows(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(path)
        )
        self._answers: KeyIndex[tuple[str, Usage]] = KeyIndex(
            (name, (text, usage)) for name, text, usage in rows
        )
        if not len(self._answers):
            raise ConfigError(f"{path} holds no recorded answers")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self._identity = {"backend": self.name, "model": self.model, "responses": digest}

    def __len__(self) -> int:
        return len(self._answers)

    def identity(self) -> dict[str, Any]:
        return self._identity

    async def aclose(self) -> None:
        return None

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        image = _last_image(messages)
        if image is None or image.name is None:
            raise BackendError("replay needs the image's file name; pass image files, not bytes")
        found = self._answers.find(image.name)
        if found is None:
            raise BackendError(f"no recorded answer for {image.name} in {self.path.name}")
        text, usage = found
        choices = [Choice(text=text, finish_reason="stop") for _ in range(config.n)]
        return ModelOutput(model=self.model, choices=choices, usage=usage)


def _last_image(messages: list[Message]) -> ImagePart | None:
    for message in reversed(messages):
        if message.role != "user":
            continue
        for part in reversed(message.content):
            if isinstance(part, ImagePart):
                return part
    return None


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in row.items()}
    for key in keys:
        if lowered.get(key) not in (None, ""):
            return lowered[key]
    return None


def _csv_rows(path: Path) -> list[tuple[str, str, Usage]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = []
        for row in csv.DictReader(fh):
            name, text = _first(row, NAME_KEYS), _first(row, TEXT_KEYS)
            if name is not None:
                rows.append((str(name), "" if text is None else str(text), Usage()))
        return rows


def _jsonl_rows(path: Path) -> list[tuple[str, str, Usage]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict):
                continue
            name, text = _first(row, NAME_KEYS), _first(row, TEXT_KEYS)
            if name is None:
                continue
            if not isinstance(text, str):
                text = "" if text is None else json.dumps(text)
            rows.append((str(name), text, _usage(row.get("usage_info") or row.get("usage"))))
    return rows


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
    completion = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
    total = int(raw.get("total_tokens") or prompt + completion)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)
