"""The Typer application, its console and the helpers every command shares."""

from __future__ import annotations

import logging
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from ethan.version import __version__

app = typer.Typer(
    help="Geolocate photos with vision-language models that reason like GeoGuessr experts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
#: Progress, logs, summaries and errors go to standard error; results to stdout or files.
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (no traceback) and exit."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(console=err, show_path=False)],
        format="%(message)s",
        force=True,
    )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ethan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """ethan: photo geolocation with vision-language models."""
