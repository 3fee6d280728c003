"""``ethan locate``: photos in, one JSON line per photo out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from ethan.budget import BudgetExceededError
from ethan.cli.app import app, err, fail, setup_logging
from ethan.cli.options import ModelOptions, with_model_options
from ethan.cli.progress import batch_progress, print_summary, status_line
from ethan.errors import EthanError
from ethan.identity import image_key
from ethan.images import iter_image_files
from ethan.pipeline import Geolocator
from ethan.remote import is_url
from ethan.results import PredictionWriter
from ethan.summary import RunSummary
from ethan.types import Prediction


@app.command()
@with_model_options
def locate(
    paths: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (walked recursively) or http(s) URLs."),
    ],
    opts: ModelOptions,
    concurrency: Annotated[int, typer.Option(min=1, help="Images in flight at once.")] = 8,
    out: Annotated[
        Path | None, typer.Option(help="JSONL file to append to (default: stdout).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Skip images already in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Locate photos; write one JSON line per image."""
    setup_logging(verbose)
    try:
        urls = [p for p in paths if is_url(p)]
        images: list[Path | str] = [*iter_image_files(p for p in paths if not is_url(p)), *urls]
        geo = opts.geolocator()
    except EthanError as exc:
        fail(str(exc))
    if not images:
        fail("no images found in the given paths", code=1)
    summary = RunSummary()
    writer = PredictionWriter(out, resume=resume, overwrite=overwrite) if out else None
    try:
        asyncio.run(_run(geo, images, writer, concurrency, summary))
    except KeyboardInterrupt:
        err.print(
            "[yellow]interrupted[/yellow]: every finished image is saved; "
            "run again with --resume to continue"
        )
        print_summary(summary)
        raise typer.Exit(130) from None
    except BudgetExceededError as exc:
        print_summary(summary)
        err.print(
            f"[yellow]{exc}[/yellow]: every finished image is saved; raise the limit "
            "and run again with --resume to continue"
        )
        raise typer.Exit(3) from None
    except EthanError as exc:
        print_summary(summary)
        fail(str(exc))
    print_summary(summary)
    if summary.total and summary.statuses["error"] == summary.total:
        raise typer.Exit(1)


async def _run(
    geo: Geolocator,
    images: list[Path | str],
    writer: PredictionWriter | None,
    concurrency: int,
    summary: RunSummary,
) -> None:
    try:
        todo = images
        if writer is not None:
            writer.open()
            todo = [p for p in images if image_key(p) not in writer.done]
            summary.skipped = len(images) - len(todo)
        with batch_progress() as progress:
            task = progress.add_task("locating", total=len(todo), stats="")
            async for prediction in geo.locate_many(todo, concurrency=concurrency):
                _emit(prediction, writer)
                summary.add(prediction)
                progress.update(task, advance=1, stats=status_line(summary))
    finally:
        if writer is not None:
            writer.close()
        await geo.aclose()


def _emit(prediction: Prediction, writer: PredictionWriter | None) -> None:
    if writer is not None:
        writer.write(prediction)
    else:
        sys.stdout.write(prediction.to_json_line())
        sys.stdout.flush()
