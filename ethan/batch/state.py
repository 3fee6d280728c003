"""What a Batch API run keeps on disk beside its output, so a killed process can resume.

The state file (``OUT.batch.json`` next to ``--out``) holds, for every image sent, its cache
key and hash; for every request (one per image and sample, named by its ``custom_id``) the
image it belongs to, how often it was submitted and its last error; and for every input file
the batch it went into and how far that batch got. It is written atomically (a temporary
file renamed over the old one) at each step that changes it, and always before polling.
It never holds an API key.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ethan.backends.base import ModelOutput
from ethan.errors import ConfigError
from ethan.results import write_atomic

STATE_VERSION = 1
#: The one endpoint ethan's batches use.
ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
#: Batch states after which nothing more happens to a batch.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def state_path_for(out: str | Path) -> Path:
    """Where the state of a batch run writing ``out`` lives: ``OUT.batch.json``."""
    out = Path(out)
    return out.with_name(out.name + ".batch.json")


class BatchLimits(BaseModel):
    """How much one input file may hold (the API's limits by default)."""

    model_config = ConfigDict(extra="forbid")

    max_requests: int = Field(default=50_000, ge=1, description="requests per file")
    max_bytes: int = Field(default=200 * 1024 * 1024, ge=1, description="bytes per file")


class ImageEntry(BaseModel):
    """An image whose requests were written to an input file."""

    cache_key: str
    sha256: str
    samples: int
    prepared_at: float = Field(description="wall-clock time its request was built")
    custom_ids: list[str]


class RequestEntry(BaseModel):
    """One request line: one sample of one image."""

    key: str
    sample: int
    attempts: int = Field(default=0, description="times it was put in a batch")
    state: Literal["pending", "submitted", "done", "failed"] = "pending"
    error: str | None = None


class PartEntry(BaseModel):
    """One input file and the batch made from it."""

    name: str = Field(description="the spool file's name (and the uploaded file's)")
    custom_ids: list[str]
    attempt: int = Field(description="1 for first submissions, 2 and up for retries")
    file_id: str | None = None
    batch_id: str | None = None
    status: str = Field(default="written", description="written, uploaded, then the API's")
    completed: int = 0
    failed: int = 0
    total: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = Field(default_factory=list, description="the batch's own errors")
    collected: bool = Field(default=False, description="its results were all handled")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def in_flight(self) -> bool:
        return self.batch_id is not None and not self.terminal


class BatchState(BaseModel):
    """Everything a resumed batch run needs (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    run_id: str = Field(
        default_factory=lambda: secrets.token_hex(4),
        description="names this run's uploads and tags its batches (metadata ethan_run)",
    )
    model: str
    base_url: str
    endpoint: str = ENDPOINT
    created_at: float = Field(default_factory=time.time)
    finished: bool = False
    next_image: int = Field(default=0, description="number of the next image's custom_ids")
    images: dict[str, ImageEntry] = Field(default_factory=dict)
    requests: dict[str, RequestEntry] = Field(default_factory=dict)
    parts: list[PartEntry] = Field(default_factory=list)
    partial: dict[str, ModelOutput] = Field(
        default_factory=dict,
        description="answers (by custom_id) of images that still wait for another sample",
    )

    def in_flight(self) -> list[PartEntry]:
        return [p for p in self.parts if p.in_flight]

    def forget(self, key: str) -> None:
        """Drop an image whose requests all ended, so that it can be sent again."""
        entry = self.images.pop(key)
        for custom_id in entry.custom_ids:
            self.requests.pop(custom_id, None)
            self.partial.pop(custom_id, None)

    def counts(self) -> dict[str, int]:
        """Requests by state (pending, submitted, done, failed)."""
        found = dict.fromkeys(("pending", "submitted", "done", "failed"), 0)
        for request in self.requests.values():
            found[request.state] += 1
        return found

    def spool_dir(self, state_path: Path) -> Path:
        """The folder beside the state file that holds input files not yet uploaded."""
        return state_path.with_name(state_path.name.removesuffix(".json") + ".parts")

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old state or the new one, never a mix."""
        write_atomic(path, self.model_dump_json())

    @classmethod
    def load(cls, path: Path) -> BatchState:
        try:
            state = cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the batch state {path}: {exc}") from None
        if state.version != STATE_VERSION:
            raise ConfigError(
                f"{path} is a batch state of version {state.version}; this ethan reads "
                f"version {STATE_VERSION}"
            )
        return state
