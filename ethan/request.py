"""One image's request before it is sent (kept apart from the pipeline so that the
engines and the verification pass can build and read requests without importing it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ethan.backends.base import GenerateConfig, Message

if TYPE_CHECKING:
    from ethan.rag import Retrieved


@dataclass(frozen=True)
class ImageRequest:
    """One image's request, built and not yet sent: what the live path, the Batch API and
    other engines all send, and what :meth:`Geolocator.finish` turns into a prediction."""

    key: str
    messages: list[Message]
    config: GenerateConfig
    cache_key: str
    sha256: str
    started: float
    retrieved: Retrieved | None = None  # what the retriever found (the verify pass lists it)
