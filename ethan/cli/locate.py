"""``ethan locate``: photos in, one JSON line per photo out (a thin layer over
:func:`ethan.locate_files`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ethan.cli.app import app, err, fail, setup_logging
from ethan.cli.flags import GivenFlags, with_spec_flags
from ethan.cli.progress import ProgressObserver, finish_run

if TYPE_CHECKING:
    from ethan.types import Prediction


@app.command()
@with_spec_flags("locate")
def locate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Image files, folders (walked recursively) or http(s) URLs "
            "[default: the inputs of --config].",
            show_default=False,
        ),
    ] = None,
    flags: GivenFlags | None = None,
    config: Annotated[
        Path | None,
        typer.Option(help="A run specification (a saved FILE.run.yaml or your own YAML)."),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="JSON lines on a terminal too, instead of cards.")
    ] = False,
    resume: Annotated[bool, typer.Option(help="Skip images already in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Locate photos; write one JSON line per image (and FILE.run.yaml beside --out)."""
    from ethan.card import use_cards
    from ethan.errors import EthanError
    from ethan.runs import locate_files

    setup_logging(verbose)
    assert flags is not None
    try:
        spec = flags.spec(config, inputs=paths or None)
        if not spec.inputs:
            fail("give image files, folders or URLs (or --config with inputs)")
    except EthanError as exc:
        fail(str(exc))
    observer = ProgressObserver("locating", "ethan locate")
    sink = None if spec.out is not None else _printer(cards=use_cards(sys.stdout, json=json))
    with finish_run(observer) as outcome:
        result = locate_files(
            spec, resume=resume, overwrite=overwrite, observer=observer, sink=sink
        )
        outcome.stopped = result.stopped
    if result.map_path is not None:
        err.print(f"map: {result.map_path}")


def _printer(*, cards: bool) -> Callable[[Prediction], None]:
    """Where results go without --out: a card per image on a terminal, else JSON lines."""
    if cards:
        from rich.console import Console

        from ethan.card import emit_card

        console = Console()
        return lambda prediction: emit_card(prediction, console)

    def line(prediction: Prediction) -> None:
        sys.stdout.write(prediction.to_json_line())
        sys.stdout.flush()

    return line
