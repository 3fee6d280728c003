"""``ethan compare``: runs, predictions files, external systems and reference baselines,
side by side on the images they share (a thin layer over :func:`ethan.compare_systems`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ethan.cli.app import app, err, fail


@app.command("compare")
def compare_command(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run folders (from ethan eval) or predictions .jsonl files."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Manifest with the truth (needed for files, --external, --reference)."),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Manifest layout of --truth.")] = None,
    external: Annotated[
        list[str] | None,
        typer.Option(help="Another system's output as NAME=FILE.csv (id,lat,lon); repeatable."),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(help="Add a no-model baseline: prior (dataset medoid), random-city."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for comparison.md and comparison.csv.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Paired bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for bootstrap and random-city.")] = 0,
) -> None:
    """Compare systems on their shared images: metrics, paired bootstrap, win rates."""
    from ethan.errors import EthanError
    from ethan.eval.compare import comparison_markdown
    from ethan.eval.systems import compare_systems

    try:
        result = compare_systems(
            runs or [],
            truth=truth,
            preset=preset,
            external=external or [],
            reference=reference or [],
            bootstrap=bootstrap,
            seed=seed,
            out=out,
        )
    except EthanError as exc:
        fail(str(exc))
    typer.echo(comparison_markdown(result))
    if out is not None:
        err.print(f"wrote {out / 'comparison.md'} and {out / 'comparison.csv'}")
