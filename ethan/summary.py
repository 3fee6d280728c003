"""Running totals over a batch of predictions (what the CLI's summary table shows)."""

from __future__ import annotations

import re
import time
from collections import Counter

from pydantic import BaseModel, Field

from ethan.backends.endpoints import EndpointStats
from ethan.types import Prediction, Status, Usage


def failure_kind(prediction: Prediction) -> str:
    """The gist of why an image failed, without what is specific to it (path, model text)."""
    message = prediction.message.removeprefix(f"{prediction.image}: ")
    return re.split(r"[:(]", message, maxsplit=1)[0].strip()[:60] or "no message"


class RunSummary(BaseModel):
    statuses: Counter[str] = Field(default_factory=Counter)
    usage: Usage = Field(default_factory=Usage)
    failures: Counter[str] = Field(default_factory=Counter)
    cached: int = 0
    skipped: int = 0
    #: monotonic clock and completion tokens at the first and latest fresh prediction, for
    #: the generation rate (measured from the first answer on, so model loading and the
    #: first prompt do not count)
    first_at: float | None = None
    first_tokens: int = 0
    last_at: float | None = None
    #: requests and errors per model server, when the backend has several
    #: (set at the end: ``summary.endpoints = endpoint_stats(geo.backend)``)
    endpoints: list[EndpointStats] = Field(default_factory=list)

    def add(self, prediction: Prediction) -> None:
        self.statuses[prediction.status.value] += 1
        if prediction.status is not Status.OK:
            self.failures[f"{prediction.status.value}: {failure_kind(prediction)}"] += 1
        if prediction.cached:
            self.cached += 1
        else:
            self.usage = self.usage + prediction.usage
            self.last_at = time.monotonic()
            if self.first_at is None:
                self.first_at = self.last_at
                self.first_tokens = self.usage.completion_tokens

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second of wall time since the first fresh answer."""
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return None
        return (self.usage.completion_tokens - self.first_tokens) / (self.last_at - self.first_at)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def answered(self) -> int:
        return self.statuses[Status.OK.value]

    def rows(self) -> list[tuple[str, str]]:
        rows = [(s.value, str(self.statuses[s.value])) for s in Status]
        rows += [
            ("processed", str(self.total)),
            ("skipped (resume)", str(self.skipped)),
            ("from cache", str(self.cached)),
            ("prompt tokens", f"{self.usage.prompt_tokens:,}"),
            ("completion tokens", f"{self.usage.completion_tokens:,}"),
        ]
        rate = self.tokens_per_s
        if rate is not None:
            rows.append(("completion tokens/s", f"{rate:,.1f}"))
        if len(self.endpoints) > 1:
            for e in self.endpoints:
                aside = f", set aside {e.set_aside}x" if e.set_aside else ""
                rows.append((e.url, f"{e.requests:,} requests, {e.errors:,} errors{aside}"))
        return rows
