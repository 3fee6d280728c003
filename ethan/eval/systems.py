"""What ``ethan compare`` compares, loaded by the library: run folders, predictions files,
other systems' CSVs and the no-model references, each as records on the dataset's ids.

>>> systems = load_systems([Path("runs/a"), Path("runs/b")])        # doctest: +SKIP
>>> result = compare(systems)                                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ethan.errors import ConfigError
from ethan.eval.compare import (
    Comparison,
    compare,
    comparison_csv,
    comparison_markdown,
    load_external_csv,
)
from ethan.eval.datasets import Dataset, Sample, load_dataset
from ethan.eval.metrics import Record
from ethan.eval.reference import prior_medoid, random_city
from ethan.eval.runner import SCORED, match_records, read_scored
from ethan.results import read_predictions, write_atomic
from ethan.types import Status

REFERENCES = ("prior", "random-city")


def load_systems(
    runs: Sequence[Path] = (),
    *,
    truth: Path | None = None,
    preset: str | None = None,
    external: Sequence[str] = (),
    reference: Sequence[str] = (),
    seed: int = 0,
) -> dict[str, list[Record]]:
    """Every system to compare, by name: runs (folders or predictions files), ``external``
    CSVs as ``NAME=FILE.csv``, and ``reference`` baselines (``prior``, ``random-city``)."""
    dataset = load_dataset(truth, preset=preset, require_images=False) if truth else None
    named = _load_runs(list(runs), dataset)
    named.update(_load_external(list(external), dataset))
    named.update(_references(list(reference), dataset, seed))
    return named


def compare_systems(
    runs: Sequence[Path] = (),
    *,
    truth: Path | None = None,
    preset: str | None = None,
    external: Sequence[str] = (),
    reference: Sequence[str] = (),
    bootstrap: int = 1000,
    seed: int = 0,
    out: Path | None = None,
) -> Comparison:
    """Load the systems, compare them on their shared images and, with ``out``, write
    ``comparison.md`` and ``comparison.csv`` there."""
    named = load_systems(
        runs, truth=truth, preset=preset, external=external, reference=reference, seed=seed
    )
    if len(named) < 2:
        raise ConfigError("compare needs at least two systems")
    result = compare(named, bootstrap=bootstrap, seed=seed)
    if out is not None:
        write_atomic(out / "comparison.md", comparison_markdown(result))
        write_atomic(out / "comparison.csv", comparison_csv(result))
    return result


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
