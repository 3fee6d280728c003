"""The Typer application, its console and the helpers every command shares.

Sub-commands load lazily: :func:`lazy_command` names a command, the module that defines it
and its one-line help, and :class:`LazyGroup` imports that module only when the command
runs (or its own ``--help`` is asked for). ``ethan --version`` and ``ethan --help`` import
typer and rich only.
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

#: command name -> (module that registers it on :data:`app`, its one-line help)
_LAZY: dict[str, tuple[str, str]] = {}


def lazy_command(name: str, module: str, help: str) -> None:
    """Declare a sub-command defined (with ``@app.command`` or ``app.add_typer``) in
    ``module``, imported the first time the command is used."""
    _LAZY[name] = (module, help)


def lazy_commands() -> dict[str, tuple[str, str]]:
    return dict(_LAZY)


class LazyGroup(TyperGroup):
    """A command group that imports a sub-command's module only when it is needed.

    (Contexts and commands are typed ``Any``: typer vendors click in some versions.)
    """

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return [*_LAZY, *(name for name in own if name not in _LAZY)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _LAZY:
            return command
        if self._listing:  # the group's own --help: the name and one line suffice
            return TyperCommand(cmd_name, help=_LAZY[cmd_name][1])
        command = load_command(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_command(name: str) -> Any:
    """Import the module of a lazy command and build its click command."""
    importlib.import_module(_LAZY[name][0])
    group = typer.main.get_command(app)
    command = getattr(group, "commands", {}).get(name)
    if command is None:  # pragma: no cover - a wrong table entry
        raise RuntimeError(f"{_LAZY[name][0]} does not define the command {name!r}")
    return command


app = typer.Typer(
    cls=LazyGroup,
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
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(console=err, show_path=False)],
        format="%(message)s",
        force=True,
    )


def _version(value: bool) -> None:
    if value:
        from ethan import __version__

        typer.echo(f"ethan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """ethan: photo geolocation with vision-language models."""
