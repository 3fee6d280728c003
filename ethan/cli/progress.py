"""Progress bar and summary table shared by the commands that run a batch."""

from __future__ import annotations

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

from ethan.cli.app import err
from ethan.summary import RunSummary


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
