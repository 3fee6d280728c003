"""A spending limit for a whole run: requests, tokens or money.

The pipeline asks the budget before every model call (cache hits are free) and records the
usage after it. Once the limit is reached no new call starts; the calls already in flight
finish and are saved, so a run stopped by its budget resumes where it stopped.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field, PrivateAttr

from ethan.errors import ConfigError, EthanError
from ethan.types import Usage

#: US dollars per million tokens (input, output), as published by the providers.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
#: What the OpenAI Batch API charges, as a share of the live price.
BATCH_DISCOUNT = 0.5


def batch_prices(model: str) -> tuple[float, float] | None:
    """The table's Batch API prices of a model ($ per million input, output tokens)."""
    live = PRICES_PER_MTOK.get(model)
    return None if live is None else (live[0] * BATCH_DISCOUNT, live[1] * BATCH_DISCOUNT)


def usage_cost(usage: Usage, prices: tuple[float, float] | None) -> float | None:
    """Dollars for this usage at these prices (None when they are unknown)."""
    if prices is None:
        return None
    return (usage.prompt_tokens * prices[0] + usage.completion_tokens * prices[1]) / 1e6


class BudgetExceededError(EthanError):
    """The run's budget is spent; what was done so far is saved."""


class Budget(BaseModel):
    """Limits for one run; ``None`` means no limit on that axis."""

    max_requests: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost: float | None = Field(default=None, gt=0, description="US dollars")
    price_in: float | None = Field(default=None, ge=0, description="$ per million input tokens")
    price_out: float | None = Field(default=None, ge=0, description="$ per million output tokens")
    batch: bool = Field(
        default=False,
        description="the run goes through the Batch API: every price (the table's or "
        "price_in/price_out, both live prices) is multiplied by BATCH_DISCOUNT",
    )

    requests: int = 0
    usage: Usage = Field(default_factory=Usage)

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def check_prices(self, model: str) -> None:
        """Fail early when a money limit is set but the model's prices are unknown."""
        if self.max_cost is not None and self.prices(model) is None:
            raise ConfigError(
                f"--max-cost needs the prices of {model!r}: pass --price-in and --price-out "
                "(US dollars per million tokens)"
            )

    def limited(self) -> bool:
        return any(v is not None for v in (self.max_requests, self.max_tokens, self.max_cost))

    def cost(self, model: str) -> float | None:
        """Dollars spent so far at the model's prices (None when they are unknown)."""
        return usage_cost(self.usage, self.prices(model))

    def prices(self, model: str) -> tuple[float, float] | None:
        """Dollars per million (input, output) tokens for this run: batch prices if batch."""
        if self.price_in is not None and self.price_out is not None:
            live: tuple[float, float] | None = (self.price_in, self.price_out)
        else:
            live = PRICES_PER_MTOK.get(model)
        if live is None or not self.batch:
            return live
        return live[0] * BATCH_DISCOUNT, live[1] * BATCH_DISCOUNT

    def acquire(self, model: str) -> None:
        """Count one request, or raise if the budget does not allow it."""
        with self._lock:
            reason = self._spent(model)
            if reason:
                raise BudgetExceededError(f"budget reached: {reason}")
            self.requests += 1

    def record(self, usage: Usage) -> None:
        with self._lock:
            self.usage = self.usage + usage

    def _spent(self, model: str) -> str:
        if self.max_requests is not None and self.requests >= self.max_requests:
            return f"{self.requests} of {self.max_requests} requests"
        if self.max_tokens is not None and self.usage.total_tokens >= self.max_tokens:
            return f"{self.usage.total_tokens:,} of {self.max_tokens:,} tokens"
        if self.max_cost is not None:
            spent = self.cost(model)
            if spent is not None and spent >= self.max_cost:
                return f"${spent:.4f} of ${self.max_cost:.4f}"
        return ""
