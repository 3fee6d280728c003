"""``ethan prompts``: list and render the prompt templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ethan.cli.app import app, fail

prompts_app = typer.Typer(help="List and render the prompt templates.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

TemplateDirs = Annotated[list[Path] | None, typer.Option(help="Extra folder of templates.")]


@prompts_app.command("list")
def prompts_list(template_dir: TemplateDirs = None) -> None:
    """List the prompt templates."""
    from rich.console import Console
    from rich.table import Table

    from ethan.prompts import list_templates

    table = Table("name", "description", "file")
    for info in list_templates(template_dir or []):
        table.add_row(info.name, info.description, str(info.path))
    Console().print(table)


@prompts_app.command("show")
def prompts_show(
    name: Annotated[str, typer.Argument(help="Template name or .j2 file.")],
    template_dir: TemplateDirs = None,
) -> None:
    """Render a template as the model would see it."""
    from ethan.errors import EthanError
    from ethan.prompts import render_template

    try:
        text = render_template(name, extra_dirs=template_dir or [])
    except EthanError as exc:
        fail(str(exc))
    typer.echo(text)
