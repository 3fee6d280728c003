"""``ethan eval``: run a model over a benchmark and score it, or score a predictions file
(a thin layer over :func:`ethan.evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ethan.cli.app import app, err, fail, setup_logging
from ethan.cli.flags import GivenFlags, with_spec_flags
from ethan.cli.progress import ProgressObserver, finish_run

if TYPE_CHECKING:
    from ethan.eval.metrics import Metrics


@app.command("eval")
@with_spec_flags("eval")
def evaluate_command(
    manifest: Annotated[
        Path | None,
        typer.Argument(
            help="Manifest CSV/JSONL, or a photo folder with --truth exif "
            "[default: the dataset of --config].",
            show_default=False,
        ),
    ] = None,
    flags: GivenFlags | None = None,
    config: Annotated[
        Path | None,
        typer.Option(help="A run specification: a run's run.yaml, or your own YAML."),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Score this predictions file instead of calling a model."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the predictions in --out.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries and more.")] = False,
) -> None:
    """Evaluate on a benchmark: run.yaml, predictions.jsonl, metrics.json, scored.csv,
    report.md, plots."""
    from ethan.errors import EthanError
    from ethan.eval.runner import evaluate

    setup_logging(verbose)
    assert flags is not None
    try:
        spec = flags.spec(config, dataset={"manifest": manifest})
        if spec.dataset is None:
            fail("give a MANIFEST (or --config with a dataset)")
        if spec.out is None:
            fail("give --out RUNDIR, the run folder to write")
    except EthanError as exc:
        fail(str(exc))
    observer = ProgressObserver("evaluating", "ethan eval")
    with finish_run(observer) as outcome:
        evaluation = evaluate(
            spec,
            resume=resume,
            overwrite=overwrite,
            predictions=predictions,
            observer=observer,
        )
        observer.close()
        _print_metrics(evaluation.metrics, evaluation.run_dir)
        outcome.stopped = evaluation.stopped


def _print_metrics(metrics: Metrics, out: Path) -> None:
    from ethan.eval.runner import METRICS

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
