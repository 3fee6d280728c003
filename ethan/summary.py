"""Running totals over a batch of predictions (what the CLI's summary table shows)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from ethan.types import Prediction, Status, Usage


class RunSummary(BaseModel):
    statuses: Counter[str] = Field(default_factory=Counter)
    usage: Usage = Field(default_factory=Usage)
    cached: int = 0
    skipped: int = 0

    def add(self, prediction: Prediction) -> None:
        self.statuses[prediction.status.value] += 1
        if prediction.cached:
            self.cached += 1
        else:
            self.usage = self.usage + prediction.usage

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
        return rows
