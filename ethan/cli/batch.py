"""``ethan batch list|status|cancel``: what a Batch API run has in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ethan.batch.api import BatchClient, BatchInfo
from ethan.batch.manage import (
    cancel_batches,
    cancel_state,
    client_for,
    load_state,
    state_batches,
)
from ethan.batch.progress import STYLES
from ethan.batch.state import BatchState, state_path_for
from ethan.cli.app import app, fail
from ethan.errors import EthanError
from ethan.eval.runner import PREDICTIONS

T = TypeVar("T")

batch_app = typer.Typer(
    help="Manage OpenAI Batch API runs: list what is in flight, show one, cancel.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")
out_console = Console()

Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="The run's output file (its state is OUT.batch.json), or an eval run folder.",
    ),
]
StateFile = Annotated[Path | None, typer.Option("--state", help="The batch state file itself.")]
BaseUrl = Annotated[
    str | None,
    typer.Option(help="API base URL (default: the state's, else OPENAI_BASE_URL or OpenAI)."),
]
ApiKey = Annotated[
    str | None, typer.Option(help="API key (default: OPENAI_API_KEY).", show_default=False)
]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per batch on stdout.")]


def _state(out: Path | None, state: Path | None) -> BatchState | None:
    if out is not None and state is not None:
        fail("pass --out or --state, not both")
    if out is not None and out.is_dir():  # an eval run folder
        out = out / PREDICTIONS
    path = state if state is not None else state_path_for(out) if out is not None else None
    if path is None:
        return None
    if not path.exists():
        fail(f"no batch state at {path}", code=1)
    return load_state(path)


def _run(coroutine: Coroutine[Any, Any, T], client: BatchClient) -> T:
    async def go() -> T:
        try:
            return await coroutine
        finally:
            await client.backend.aclose()

    return asyncio.run(go())


def _show(batches: list[BatchInfo], as_json: bool, title: str) -> None:
    if as_json:
        for info in batches:
            out_console.out(json.dumps(info.model_dump(mode="json")), highlight=False)
        return
    table = Table(title=title)
    for name in ("batch", "file", "state", "completed", "failed", "total", "errors"):
        table.add_column(
            name, justify="right" if name in ("completed", "failed", "total") else "left"
        )
    for info in batches:
        style = STYLES.get(info.status, "")
        table.add_row(
            info.id,
            info.metadata.get("ethan_part", info.input_file_id or ""),
            f"[{style}]{info.status}[/]" if style else info.status,
            str(info.completed),
            str(info.failed),
            str(info.total),
            "; ".join(info.errors)[:80],
        )
    out_console.print(table)


@batch_app.command("list")
def list_batches(
    out: Out = None,
    state: StateFile = None,
    account: Annotated[
        bool, typer.Option("--account", help="List the account's batches from the API.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many of the account's batches.")] = 20,
    offline: Annotated[
        bool, typer.Option(help="Show what the state file saved; ask the API nothing.")
    ] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List a run's batches (--out/--state) or the account's most recent (--account)."""
    try:
        saved = _state(out, state)
        if saved is None and not account:
            fail("pass --out or --state for a run's batches, or --account for the account's")
        if saved is not None:
            client = (
                None if offline else client_for(base_url=base_url, api_key=api_key, state=saved)
            )
            if client is None:
                batches = asyncio.run(state_batches(saved, None))
            else:
                batches = _run(state_batches(saved, client), client)
            counts = saved.counts()
            title = f"run {saved.run_id}: {len(saved.images)} images, requests " + ", ".join(
                f"{k} {v}" for k, v in counts.items()
            )
            _show(batches, as_json, title)
        if account:
            client = client_for(base_url=base_url, api_key=api_key, state=saved)
            _show(_run(client.list(limit), client), as_json, "the account's batches")
    except EthanError as exc:
        fail(str(exc))


@batch_app.command("status")
def status(
    batch_id: Annotated[str, typer.Argument(help="The batch id (batch_...).")],
    out: Out = None,
    state: StateFile = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Show one batch as the API sees it now."""
    try:
        client = client_for(base_url=base_url, api_key=api_key, state=_state(out, state))
        info = _run(client.retrieve(batch_id), client)
    except EthanError as exc:
        fail(str(exc))
    if as_json:
        _show([info], True, "")
        return
    table = Table(title=f"batch {info.id}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for name, value in info.model_dump().items():
        if isinstance(value, list | dict):
            value = "; ".join(value) if isinstance(value, list) else json.dumps(value)
        table.add_row(name, "" if value is None else str(value))
    out_console.print(table)


@batch_app.command("cancel")
def cancel(
    batch_ids: Annotated[
        list[str] | None, typer.Argument(help="Batch ids to cancel.", show_default=False)
    ] = None,
    out: Out = None,
    state: StateFile = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Cancel every unfinished batch of the run.")
    ] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Cancel batches by id, or all of a run's (--out/--state with --all).

    A cancelled batch's finished requests are kept; a resumed run retries the rest once.
    """
    try:
        saved = _state(out, state)
        if not batch_ids and not (all_ and saved is not None):
            fail("name the batch ids to cancel, or pass --all with --out/--state")
        client = client_for(base_url=base_url, api_key=api_key, state=saved)
        if batch_ids:
            done = _run(cancel_batches(client, batch_ids), client)
        else:
            assert saved is not None
            done = _run(cancel_state(saved, client), client)
    except EthanError as exc:
        fail(str(exc))
    _show(done, as_json, "cancelled")
