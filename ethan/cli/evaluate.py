"""``ethan eval``: run a model over a benchmark and score it; or score a predictions file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from ethan.budget import BudgetExceededError
from ethan.cli.app import app, err, fail, setup_logging
from ethan.cli.options import ModelOptions, with_model_options
from ethan.cli.progress import batch_progress, print_summary, status_line
from ethan.errors import EthanError
from ethan.eval.datasets import PRESETS, Dataset, load_dataset
from ethan.eval.metrics import THRESHOLDS_KM, Metrics
from ethan.eval.runner import METRICS, run_predictions, score_run
from ethan.summary import RunSummary
from ethan.types import Prediction

PANEL = "Dataset"


@app.command("eval")
@with_model_options
def evaluate(
    manifest: Annotated[
        Path, typer.Argument(help="Manifest CSV/JSONL, or a photo folder with --truth exif.")
    ],
    opts: ModelOptions,
    out: Annotated[Path, typer.Option(help="Run folder to write.")],
    images_root: Annotated[
        Path | None,
        typer.Option(rich_help_panel=PANEL, help="Folder the manifest's image names are in."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(rich_help_panel=PANEL, help=f"Manifest layout: {', '.join(PRESETS)}."),
    ] = None,
    truth: Annotated[
        Literal["manifest", "exif"],
        typer.Option(rich_help_panel=PANEL, help="Where the true coordinates come from."),
    ] = "manifest",
    limit: Annotated[
        int | None, typer.Option(min=1, rich_help_panel=PANEL, help="Keep the first N images.")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(min=1, rich_help_panel=PANEL, help="Draw N images at random (--seed)."),
    ] = None,
    sample_seed: Annotated[
        int, typer.Option("--sample-seed", rich_help_panel=PANEL, help="Seed for --sample.")
    ] = 0,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Score this predictions file instead of calling a model."),
    ] = None,
    threshold: Annotated[
        list[float] | None,
        typer.Option(help="Accuracy thresholds in km (repeatable) [1 25 200 750 2500]."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for CIs.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Images in flight at once.")] = 8,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the predictions in --out.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Evaluate on a benchmark: predictions.jsonl, metrics.json, scored.csv, report.md, plots."""
    setup_logging(verbose)
    try:
        dataset = load_dataset(
            manifest,
            images_root=images_root,
            preset=preset,
            truth=truth,
            limit=limit,
            sample=sample,
            seed=sample_seed,
        )
    except EthanError as exc:
        fail(str(exc))
    _report_problems(dataset)
    if not dataset.samples:
        fail("the dataset has no usable rows", code=1)
    config: dict[str, Any] = {
        "manifest": str(manifest),
        "images_root": str(images_root) if images_root else None,
        "preset": preset,
        "truth": truth,
        "limit": limit,
        "sample": sample,
        "sample_seed": sample_seed,
        "n_images": len(dataset),
    }
    stopped_by_budget = False
    if predictions is None:
        run_config, stopped_by_budget = _locate(dataset, opts, out, resume, overwrite, concurrency)
        config.update(run_config)
    else:
        config["scored_file"] = str(predictions)
    try:
        metrics = score_run(
            out,
            dataset,
            config,
            predictions=predictions,
            thresholds=threshold or THRESHOLDS_KM,
            bootstrap=bootstrap,
        )
    except EthanError as exc:
        fail(str(exc))
    _print_metrics(metrics, out)
    if stopped_by_budget:
        raise typer.Exit(3)


def _locate(
    dataset: Dataset,
    opts: ModelOptions,
    out: Path,
    resume: bool,
    overwrite: bool,
    concurrency: int,
) -> tuple[dict[str, Any], bool]:
    """Run the model over the dataset; says whether the budget stopped it."""
    try:
        geo = opts.geolocator()
    except EthanError as exc:
        fail(str(exc))
    summary = RunSummary()
    stopped = False
    with batch_progress("evaluating") as progress:
        task = progress.add_task("evaluating", total=len(dataset), stats="")

        def started(todo: int, skipped: int) -> None:
            summary.skipped = skipped
            progress.update(task, total=todo)

        def finished(prediction: Prediction) -> None:
            summary.add(prediction)
            progress.update(task, advance=1, stats=status_line(summary))

        try:
            asyncio.run(
                run_predictions(
                    dataset,
                    geo,
                    out,
                    resume=resume,
                    overwrite=overwrite,
                    concurrency=concurrency,
                    on_prediction=finished,
                    on_start=started,
                )
            )
        except KeyboardInterrupt:
            progress.stop()
            print_summary(summary, "ethan eval")
            err.print("[yellow]interrupted[/yellow]: run again with --resume to continue")
            raise typer.Exit(130) from None
        except BudgetExceededError as exc:
            progress.stop()
            print_summary(summary, "ethan eval")
            err.print(
                f"[yellow]{exc}[/yellow]: the predictions so far are saved and scored "
                "below; raise the limit and run again with --resume to continue"
            )
            stopped = True
        except EthanError as exc:
            progress.stop()
            print_summary(summary, "ethan eval")
            fail(str(exc))
    if not stopped:
        print_summary(summary, "ethan eval")
    config = {
        "backend": opts.backend,
        "model": geo.backend.model,
        "backend_identity": geo.backend.identity(),
        **geo.settings.model_dump(mode="json"),
        "concurrency": concurrency,
        "candidates": str(opts.candidates) if opts.candidates else None,
        "stopped_by_budget": stopped,
    }
    return config, stopped


def _report_problems(dataset: Dataset) -> None:
    if not dataset.problems:
        return
    err.print(f"[yellow]{len(dataset.problems)} row(s) skipped[/yellow] in {dataset.source}:")
    for problem in dataset.problems[:20]:
        err.print(f"  line {problem.line}: {escape(problem.reason)}", highlight=False)
    if len(dataset.problems) > 20:
        err.print(f"  ... and {len(dataset.problems) - 20} more")


def _print_metrics(metrics: Metrics, out: Path) -> None:
    table = Table(title=f"metrics ({out / METRICS})")
    table.add_column("metric")
    table.add_column("all images", justify="right")
    table.add_column("answered only", justify="right")
    table.add_row("images", str(metrics.n), str(metrics.answered))
    table.add_row(
        "refused / unparsed / errors",
        f"{metrics.refused} / {metrics.unparsed} / {metrics.errors}",
        "",
    )
    for key, value in metrics.acc_km.items():
        answered = metrics.acc_km_answered.get(key)
        table.add_row(f"acc@{key} km", f"{value:.1%}", _pct(answered))
    table.add_row("median km", _km(metrics.median_km), _km(metrics.median_km_answered))
    table.add_row("mean km", _km(metrics.mean_km), _km(metrics.mean_km_answered))
    table.add_row(
        "GeoScore mean", f"{metrics.geoscore_mean:.0f}", _num(metrics.geoscore_mean_answered)
    )
    table.add_row("country acc", _pct(metrics.country_acc), "")
    table.add_row("continent acc", _pct(metrics.continent_acc), "")
    err.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _km(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
