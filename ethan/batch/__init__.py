"""The OpenAI Batch API engine: half-price, asynchronous runs over the same pipeline.

>>> summary = await locate_batch(geo, images, writer.write,           # doctest: +SKIP
...                              state_path=state_path_for(out))
"""

from ethan.batch.api import BatchClient, BatchInfo
from ethan.batch.run import BatchProgress, BatchSummary, BatchView, locate_batch
from ethan.batch.state import BatchLimits, BatchState, state_path_for

__all__ = [
    "BatchClient",
    "BatchInfo",
    "BatchLimits",
    "BatchProgress",
    "BatchState",
    "BatchSummary",
    "BatchView",
    "locate_batch",
    "state_path_for",
]
