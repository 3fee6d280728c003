"""``ethan locate``: photos in, one JSON line per photo out (a thin layer over
:func:`ethan.locate_files`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ethan.cli.app import app, fail, setup_logging
from ethan.cli.flags import GivenFlags, with_spec_flags
from ethan.cli.progress import ProgressObserver, finish_run


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
    resume: Annotated[bool, typer.Option(help="Skip images already in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Locate photos; write one JSON line per image (and FILE.run.yaml beside --out)."""
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
    sink = None if spec.out is not None else _print_line
    with finish_run(observer) as outcome:
        result = locate_files(
            spec, resume=resume, overwrite=overwrite, observer=observer, sink=sink
        )
        outcome.stopped = result.stopped


def _print_line(prediction: object) -> None:
    from ethan.types import Prediction

    assert isinstance(prediction, Prediction)
    sys.stdout.write(prediction.to_json_line())
    sys.stdout.flush()
