"""What ``ethan batch list|status|cancel`` do, as library calls."""

from __future__ import annotations

from pathlib import Path

from ethan.backends.openai import OpenAIBackend
from ethan.batch.api import BatchClient, BatchInfo
from ethan.batch.state import TERMINAL, BatchState, PartEntry


def client_for(
    *, base_url: str | None = None, api_key: str | None = None, state: BatchState | None = None
) -> BatchClient:
    """A Batch API client for a server (by default the one a state file was made with)."""
    url = base_url or (state.base_url if state is not None else None)
    model = state.model if state is not None else "gpt-4o"
    return BatchClient(OpenAIBackend(model, base_url=url, api_key=api_key))


def load_state(path: str | Path) -> BatchState:
    return BatchState.load(Path(path))


def saved_info(part: PartEntry) -> BatchInfo:
    """What the state file last recorded about a part's batch."""
    return BatchInfo(
        id=part.batch_id or "-",
        status=part.status,
        input_file_id=part.file_id,
        output_file_id=part.output_file_id,
        error_file_id=part.error_file_id,
        completed=part.completed,
        failed=part.failed,
        total=part.total or len(part.custom_ids),
        errors=part.errors,
        metadata={"ethan_part": part.name},
    )


async def state_batches(state: BatchState, client: BatchClient | None) -> list[BatchInfo]:
    """Every batch of a run: fresh from the API for those not finished (with a client),
    else as last saved."""
    found: list[BatchInfo] = []
    for part in state.parts:
        info = saved_info(part)
        if client is not None and part.batch_id is not None and part.status not in TERMINAL:
            info = await client.retrieve(part.batch_id)
            info.metadata.setdefault("ethan_part", part.name)
        found.append(info)
    return found


async def cancel_batches(client: BatchClient, batch_ids: list[str]) -> list[BatchInfo]:
    """Cancel these batches (those already finished are left as they are)."""
    done: list[BatchInfo] = []
    for batch_id in batch_ids:
        info = await client.retrieve(batch_id)
        if info.status in TERMINAL or info.status == "cancelling":
            done.append(info)
        else:
            done.append(await client.cancel(batch_id))
    return done


async def cancel_state(state: BatchState, client: BatchClient) -> list[BatchInfo]:
    """Cancel every batch of a run that may still be running."""
    ids = [p.batch_id for p in state.parts if p.batch_id is not None and p.status not in TERMINAL]
    return await cancel_batches(client, ids)
