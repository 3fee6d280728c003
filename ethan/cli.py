"""The ``ethan`` command: a thin layer over the public Python API."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ethan import __version__
from ethan.aggregate import Method
from ethan.errors import EthanError
from ethan.images import iter_image_files
from ethan.pipeline import Geolocator
from ethan.prompts import list_templates, render_template
from ethan.results import PredictionWriter
from ethan.summary import RunSummary
from ethan.types import Prediction

app = typer.Typer(
    help="Geolocate photos with vision-language models that reason like GeoGuessr experts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
prompts_app = typer.Typer(help="List and render the prompt templates.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

err = Console(stderr=True)


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


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        options[key.strip().replace("-", "_")] = value
    return options


@app.command()
def locate(
    paths: Annotated[
        list[Path], typer.Argument(help="Image files or folders (walked recursively).")
    ],
    backend: Annotated[str, typer.Option(help="Backend name.")] = "openai",
    model: Annotated[str, typer.Option(help="Model name on the backend.")] = "gpt-4o",
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server URL (default: OPENAI_BASE_URL).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key (default: OPENAI_API_KEY).", show_default=False)
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Backend option KEY=VALUE.")
    ] = None,
    template: Annotated[str, typer.Option(help="Prompt template name or .j2 file.")] = "gps",
    template_dir: Annotated[
        list[Path] | None, typer.Option(help="Extra folder of templates.")
    ] = None,
    shots: Annotated[int, typer.Option(min=0, help="Few-shot exemplars to include.")] = 0,
    fewshot_set: Annotated[str, typer.Option(help="Few-shot set name or file.")] = "default",
    samples: Annotated[int, typer.Option(min=1, help="Answers to sample per image.")] = 1,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Answer length limit.")] = 2048,
    seed: Annotated[int | None, typer.Option(help="Sampling seed, where supported.")] = None,
    structured: Annotated[
        bool, typer.Option(help="Ask the server for JSON following the answer schema.")
    ] = True,
    aggregate: Annotated[Method, typer.Option(help="How hypotheses become one point.")] = "medoid",
    concurrency: Annotated[int, typer.Option(min=1, help="Images in flight at once.")] = 8,
    max_side: Annotated[int, typer.Option(min=64, help="Downscale images to this side.")] = 1024,
    out: Annotated[
        Path | None, typer.Option(help="JSONL file to append to (default: stdout).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Skip images already in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    cache: Annotated[bool, typer.Option(help="Use the on-disk response cache.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Locate photos; write one JSON line per image."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(console=err, show_path=False)],
        format="%(message)s",
    )
    backend_options = _parse_options(option or [])
    if base_url is not None:
        backend_options["base_url"] = base_url
    if api_key is not None:
        backend_options["api_key"] = api_key
    try:
        images = list(iter_image_files(paths))
        geo = Geolocator(
            backend,
            model=model,
            backend_options=backend_options,
            cache=cache,
            template=template,
            template_dirs=template_dir or [],
            shots=shots,
            fewshot_set=fewshot_set,
            samples=samples,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            structured=structured,
            aggregate=aggregate,
            max_side=max_side,
        )
    except EthanError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not images:
        err.print("[red]error:[/red] no images found in the given paths")
        raise typer.Exit(1)
    summary = RunSummary()
    try:
        asyncio.run(_run(geo, images, out, resume, overwrite, concurrency, summary))
    except KeyboardInterrupt:
        err.print(
            "[yellow]interrupted[/yellow]: every finished image is saved; "
            "run again with --resume to continue"
        )
        _print_summary(summary)
        raise typer.Exit(130) from None
    except EthanError as exc:
        _print_summary(summary)
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _print_summary(summary)
    if summary.total and summary.statuses["error"] == summary.total:
        raise typer.Exit(1)


async def _run(
    geo: Geolocator,
    images: list[Path],
    out: Path | None,
    resume: bool,
    overwrite: bool,
    concurrency: int,
    summary: RunSummary,
) -> None:
    writer = PredictionWriter(out, resume=resume, overwrite=overwrite) if out else None
    try:
        if writer is not None:
            writer.open()
            todo = [p for p in images if str(p) not in writer.done]
            summary.skipped = len(images) - len(todo)
        else:
            todo = images
        with _progress() as progress:
            task = progress.add_task("locating", total=len(todo), stats="")
            async for prediction in geo.locate_many(todo, concurrency=concurrency):
                _emit(prediction, writer)
                summary.add(prediction)
                progress.update(task, advance=1, stats=_status_line(summary))
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


class _RateColumn(ProgressColumn):
    """Images per minute, from rich's moving estimate of the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed * 60:.1f} img/min", style="cyan")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]locating"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=err,
    )


def _status_line(summary: RunSummary) -> str:
    s = summary.statuses
    return (
        f"[green]ok {s['ok']}[/] refused {s['refused']} unparsed {s['unparsed']} error {s['error']}"
    )


def _print_summary(summary: RunSummary) -> None:
    table = Table(title="ethan locate", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for name, value in summary.rows():
        table.add_row(name, value)
    err.print(table)


@prompts_app.command("list")
def prompts_list(
    template_dir: Annotated[
        list[Path] | None, typer.Option(help="Extra folder of templates.")
    ] = None,
) -> None:
    """List the prompt templates."""
    table = Table("name", "description", "file")
    for info in list_templates(template_dir or []):
        table.add_row(info.name, info.description, str(info.path))
    Console().print(table)


@prompts_app.command("show")
def prompts_show(
    name: Annotated[str, typer.Argument(help="Template name or .j2 file.")],
    template_dir: Annotated[
        list[Path] | None, typer.Option(help="Extra folder of templates.")
    ] = None,
) -> None:
    """Render a template as the model would see it."""
    try:
        text = render_template(name, extra_dirs=template_dir or [])
    except EthanError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(text)


if __name__ == "__main__":  # pragma: no cover
    app()
