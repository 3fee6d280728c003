"""A live terminal display of a Batch API run: images done, and each batch's state and counts.

>>> with BatchDisplay() as display:                                # doctest: +SKIP
...     await locate_batch(geo, images, sink, state_path=p, on_progress=display.update)
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ethan.batch.run import BatchProgress

#: How each batch state is coloured.
STYLES = {
    "written": "dim",
    "uploaded": "dim",
    "validating": "cyan",
    "in_progress": "blue",
    "finalizing": "magenta",
    "completed": "green",
    "failed": "red",
    "expired": "yellow",
    "cancelling": "yellow",
    "cancelled": "yellow",
}


def batch_table(snapshot: BatchProgress, *, title: str | None = None) -> Table:
    """One row per batch: its file, id, attempt, state and request counts."""
    table = Table(title=title, expand=False)
    for name, justify in (
        ("file", "left"),
        ("batch", "left"),
        ("try", "right"),
        ("state", "left"),
        ("completed", "right"),
        ("failed", "right"),
        ("total", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for view in snapshot.batches:
        style = STYLES.get(view.status, "")
        table.add_row(
            view.part,
            view.id or "-",
            str(view.attempt),
            f"[{style}]{view.status}[/]" if style else view.status,
            str(view.completed),
            str(view.failed),
            str(view.total),
        )
    return table


class BatchDisplay:
    """A rich Live view fed by :func:`locate_batch`'s ``on_progress`` callback."""

    def __init__(self, console: Console | None = None, *, max_rows: int = 20) -> None:
        self.console = console or Console(stderr=True)
        self.max_rows = max_rows
        self._bar = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("images"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._bar.add_task("batch", total=None, phase="starting")
        self._live = Live(self._bar, console=self.console, refresh_per_second=4)
        self.last: BatchProgress | None = None

    def __enter__(self) -> BatchDisplay:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()

    def update(self, snapshot: BatchProgress) -> None:
        self.last = snapshot
        self._bar.update(
            self._task, total=snapshot.images, completed=snapshot.done, phase=snapshot.phase
        )
        self._live.update(self.render(snapshot))

    def render(self, snapshot: BatchProgress) -> RenderableType:
        shown = snapshot.model_copy(update={"batches": snapshot.batches[-self.max_rows :]})
        hidden = len(snapshot.batches) - len(shown.batches)
        title = f"batches ({hidden} earlier not shown)" if hidden else "batches"
        if not snapshot.batches:
            return self._bar
        return Group(self._bar, batch_table(shown, title=title))
