"""Progress bar and summary table shared by the commands that run a batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ethan.cli.app import err, fail
from ethan.errors import EthanError, NothingToDoError
from ethan.runs import RunObserver, RunResult
from ethan.summary import RunSummary
from ethan.types import Prediction

if TYPE_CHECKING:
    from ethan.batch import BatchProgress
    from ethan.batch.progress import BatchDisplay
    from ethan.eval.datasets import Dataset


class _RateColumn(ProgressColumn):
    """Images per minute, from rich's moving estimate of the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed * 60:.1f} img/min", style="cyan")


def batch_progress(label: str = "locating") -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=err,
    )


def status_line(summary: RunSummary) -> str:
    """Outcome counts, then the generation rate (tokens/s) once it is known."""
    s = summary.statuses
    line = (
        f"[green]ok {s['ok']}[/] refused {s['refused']} unparsed {s['unparsed']} error {s['error']}"
    )
    rate = summary.tokens_per_s
    return line if rate is None else f"{line} [cyan]{rate:,.1f} tok/s[/]"


def print_summary(summary: RunSummary, title: str = "ethan locate") -> None:
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for name, value in summary.rows():
        table.add_row(name, value)
    err.print(table)
    if summary.failures:
        reasons = Table(title="why images failed", show_header=False)
        reasons.add_column("")
        reasons.add_column("", justify="right")
        for reason, count in summary.failures.most_common(10):
            reasons.add_row(reason, str(count))
        err.print(reasons)


class ProgressObserver(RunObserver):
    """Draws a run's progress bar and, once it ends, its summary table."""

    def __init__(self, label: str, title: str) -> None:
        self.summary = RunSummary()
        self.title = title
        self._progress = batch_progress(label)
        self._task: TaskID | None = None
        self._closed = False
        self._batches: BatchDisplay | None = None

    def loaded(self, dataset: Dataset) -> None:
        if not dataset.problems:
            return
        err.print(f"[yellow]{len(dataset.problems)} row(s) skipped[/yellow] in {dataset.source}:")
        for problem in dataset.problems[:20]:
            err.print(f"  line {problem.line}: {escape(problem.reason)}", highlight=False)
        if len(dataset.problems) > 20:
            err.print(f"  ... and {len(dataset.problems) - 20} more")

    def started(self, total: int, skipped: int) -> None:
        self.summary.skipped = skipped
        self._progress.start()
        self._task = self._progress.add_task("run", total=total, stats="")

    def finished(self, prediction: Prediction) -> None:
        self.summary.add(prediction)
        if self._task is not None:
            self._progress.update(self._task, advance=1, stats=status_line(self.summary))

    def ended(self, result: RunResult) -> None:
        self.summary.endpoints = result.summary.endpoints

    def batch(self, progress: BatchProgress) -> None:
        """The batch engine's states and counts replace the bar (one live display at once)."""
        if self._batches is None:
            from ethan.batch.progress import BatchDisplay

            self._progress.stop()
            self._batches = BatchDisplay(err).__enter__()
        self._batches.update(progress)

    def close(self) -> None:
        """Stop the bar and print the summary (once)."""
        if self._closed:
            return
        self._closed = True
        self._progress.stop()
        if self._batches is not None:
            self._batches.__exit__(None, None, None)
        if self._task is not None:
            print_summary(self.summary, self.title)


@dataclass
class Outcome:
    #: why the run stopped early (a budget), for the exit code
    stopped: str | None = None


@contextmanager
def finish_run(observer: ProgressObserver) -> Iterator[Outcome]:
    """Run a command's body and turn how it ended into messages and the exit code:
    0 done, 1 nothing could be processed, 2 a setup error, 3 a budget, 130 Ctrl-C."""
    outcome = Outcome()
    try:
        yield outcome
    except KeyboardInterrupt:
        observer.close()
        err.print(
            "[yellow]interrupted[/yellow]: every finished image is saved; "
            "run again with --resume to continue"
        )
        raise typer.Exit(130) from None
    except NothingToDoError as exc:
        observer.close()
        fail(str(exc), code=1)
    except EthanError as exc:
        observer.close()
        fail(str(exc))
    observer.close()
    if outcome.stopped:
        err.print(
            f"[yellow]{escape(outcome.stopped)}[/yellow]: every finished image is saved; "
            "raise the limit and run again with --resume to continue"
        )
        raise typer.Exit(3)
    summary = observer.summary
    if summary.total and summary.statuses["error"] == summary.total:
        raise typer.Exit(1)
