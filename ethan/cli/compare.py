"""``ethan compare``: runs, predictions files, external systems and reference baselines,
side by side on the images they share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ethan.cli.app import app, err, fail
from ethan.errors import ConfigError, EthanError
from ethan.eval.compare import compare, comparison_csv, comparison_markdown, load_external_csv
from ethan.eval.datasets import Dataset, Sample, load_dataset
from ethan.eval.metrics import Record
from ethan.eval.reference import prior_medoid, random_city
from ethan.eval.runner import SCORED, match_records, read_scored
from ethan.results import read_predictions
from ethan.types import Status

REFERENCES = ("prior", "random-city")


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
    try:
        dataset = (
            load_dataset(truth, preset=preset, require_images=False) if truth is not None else None
        )
        named = _load_runs(runs or [], dataset)
        named.update(_load_external(external or [], dataset))
        named.update(_references(reference or [], dataset, seed))
        if len(named) < 2:
            raise ConfigError("compare needs at least two systems")
        result = compare(named, bootstrap=bootstrap, seed=seed)
    except EthanError as exc:
        fail(str(exc))
    markdown = comparison_markdown(result)
    typer.echo(markdown)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(markdown, encoding="utf-8")
        (out / "comparison.csv").write_text(comparison_csv(result), encoding="utf-8")
        err.print(f"wrote {out / 'comparison.md'} and {out / 'comparison.csv'}")


def _need(dataset: Dataset | None, what: str) -> Dataset:
    if dataset is None:
        raise ConfigError(f"{what} needs --truth MANIFEST")
    return dataset


def _unique(name: str, taken: dict[str, list[Record]]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}-{i}", i + 1
    return candidate


def _answered(points: list[tuple[str, float, float]], truth: dict[str, Sample]) -> list[Record]:
    """Records for a system that answers every image it lists (ids outside the truth dropped)."""
    return [
        Record(id=i, true_lat=truth[i].lat, true_lon=truth[i].lon, status=Status.OK, lat=la, lon=lo)
        for i, la, lo in points
        if i in truth
    ]


def _load_runs(paths: list[Path], dataset: Dataset | None) -> dict[str, list[Record]]:
    named: dict[str, list[Record]] = {}
    for path in paths:
        if path.is_dir():
            scored = path / SCORED
            if not scored.is_file():
                raise ConfigError(f"{path} has no {SCORED}: run ethan eval into it first")
            named[_unique(path.name, named)] = read_scored(scored)
        elif path.is_file():
            records, _ = match_records(_need(dataset, str(path)), read_predictions(path))
            named[_unique(path.stem, named)] = records
        else:
            raise ConfigError(f"not found: {path}")
    return named


def _load_external(pairs: list[str], dataset: Dataset | None) -> dict[str, list[Record]]:
    named: dict[str, list[Record]] = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep:
            name, file = Path(pair).stem, pair
        truth = _need(dataset, f"--external {pair}").by_id()
        rows = load_external_csv(Path(file))
        named[name] = _answered(rows, truth)
    return named


def _references(kinds: list[str], dataset: Dataset | None, seed: int) -> dict[str, list[Record]]:
    named: dict[str, list[Record]] = {}
    for kind in kinds:
        if kind not in REFERENCES:
            raise ConfigError(f"unknown --reference {kind!r}; choose from: {', '.join(REFERENCES)}")
        data = _need(dataset, f"--reference {kind}")
        if kind == "prior":
            lat, lon = prior_medoid([(s.lat, s.lon) for s in data.samples])
            points = [(s.id, lat, lon) for s in data.samples]
        else:
            points = random_city([s.id for s in data.samples], seed=seed)
        named[kind] = _answered(points, data.by_id())
    return named
