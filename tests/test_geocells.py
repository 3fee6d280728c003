"""Geocells: PlaNet's adaptive S2 cells and PIGEON-style semantic cells, on real town
locations from the offline gazetteer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("s2cell")

from ethan.baselines import s2
from ethan.baselines.geocells import Partition
from ethan.baselines.partitions import build_partition
from ethan.baselines.synthetic import town_points
from ethan.errors import ConfigError
from ethan.geocode import reverse_many


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    return town_points(12000, seed=3)


def _covering(partition: Partition, leaf: int) -> list[int]:
    """Every cell one of whose S2 cells contains the leaf."""
    found = []
    for index, cell in enumerate(partition.cells):
        for token in cell.tokens:
            cell_id = s2.from_token(token)
            if s2.parent(leaf, s2.level_of(cell_id)) == cell_id:
                found.append(index)
    return found


def test_s2_hierarchy_math_matches_s2cell() -> None:
    import s2cell

    rng = np.random.default_rng(0)
    lats, lons = rng.uniform(-89, 89, 300), rng.uniform(-180, 180, 300)
    leaves = s2.leaf_ids(lats, lons)
    for level in (0, 1, 7, 18, 30):
        ours = s2.parents(leaves, level)
        theirs = [s2cell.cell_id_to_parent_cell_id(int(i), level) for i in leaves]
        assert [int(v) for v in ours] == theirs
        assert {s2.level_of(int(v)) for v in ours} == {level}
        assert all(s2.from_token(s2.to_token(int(v))) == int(v) for v in ours[:30])
    corners = s2.boundary(s2.parent(int(leaves[0]), 4), steps=2)
    assert len(corners) == 8 and all(-90 <= la <= 90 and -180 <= lo <= 180 for la, lo in corners)


def test_s2_cells_respect_the_bounds_and_hold_each_point_once(
    points: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    lats, lons = points
    partition, labels = build_partition(lats, lons, kind="s2", max_count=400, min_count=40)
    counts = np.bincount(labels, minlength=len(partition))
    stats = partition.stats()
    print(f"\ns2 merge: {stats}")
    assert (labels >= 0).all()  # merge mode: no point is dropped
    assert counts.min() >= 40 and counts.max() <= 400
    assert [c.count for c in partition.cells] == counts.tolist()
    # the cells' S2 cells are disjoint: every point lies in exactly one of them
    leaves = s2.leaf_ids(lats, lons)
    sample = np.random.default_rng(1).choice(lats.size, 300, replace=False)
    for i in sample:
        assert _covering(partition, int(leaves[i])) == [int(labels[i])]
    tokens = [t for c in partition.cells for t in c.tokens]
    assert len(tokens) == len(set(tokens))
    # saved and loaded, the partition assigns every training point to its own cell
    loaded = Partition.load(partition.save(tmp_path / "cells.json"))
    assert loaded == partition
    assert (loaded.assign(lats, lons, fallback=False) == labels).all()


def test_s2_drop_mode_drops_small_cells_like_planet(points: tuple[np.ndarray, np.ndarray]) -> None:
    lats, lons = points
    partition, labels = build_partition(
        lats, lons, kind="s2", max_count=400, min_count=40, small="drop"
    )
    kept = labels >= 0
    counts = np.bincount(labels[kept], minlength=len(partition))
    print(f"\ns2 drop: {partition.stats()} dropped {int((~kept).sum())} points")
    assert 0 < (~kept).sum() < lats.size // 10
    assert counts.min() >= 40 and counts.max() <= 400
    assert (partition.assign(lats, lons, fallback=False) == labels).all()
    # a dropped point falls back to the nearest cell when asked
    assert (partition.assign(lats[~kept], lons[~kept]) >= 0).all()


def test_semantic_cells_follow_borders_and_bounds(
    points: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    lats, lons = points
    partition, labels = build_partition(lats, lons, kind="semantic", max_count=300, min_count=30)
    stats = partition.stats()
    print(f"\nsemantic: {stats}")
    counts = np.bincount(labels, minlength=len(partition))
    assert (labels >= 0).all() and [c.count for c in partition.cells] == counts.tolist()
    codes = [p.country_code or "" for p in reverse_many(lats, lons)]
    per_country = {c: codes.count(c) for c in set(codes)}
    for index, cell in enumerate(partition.cells):
        members = {codes[i] for i in np.flatnonzero(labels == index)}
        assert members == {cell.country_code or ""}, cell.name  # never crosses a border
        assert cell.count <= 300
        # below min_count only when the whole country is (merging would cross its border)
        assert cell.count >= 30 or per_country[cell.country_code or ""] < 30, cell.name
    assert stats["countries"] > 50
    loaded = Partition.load(partition.save(tmp_path / "semantic.json"))
    assert (loaded.assign(lats, lons, fallback=False) == labels).all()
    # new points land in a cell of their own country when it has one
    fresh_lats, fresh_lons = town_points(500, seed=99)
    fresh = loaded.assign(fresh_lats, fresh_lons)
    fresh_codes = [p.country_code or "" for p in reverse_many(fresh_lats, fresh_lons)]
    for i, cell in enumerate(fresh.tolist()):
        if fresh_codes[i] in per_country:
            assert (loaded.cells[cell].country_code or "") == fresh_codes[i]


def test_dense_units_are_split_by_clustering() -> None:
    # two tight clusters in one region: the split separates them
    rng = np.random.default_rng(5)
    lats = np.concatenate([48.85 + rng.normal(0, 0.01, 150), 48.80 + rng.normal(0, 0.01, 150)])
    lons = np.concatenate([2.35 + rng.normal(0, 0.01, 150), 2.10 + rng.normal(0, 0.01, 150)])
    partition, labels = build_partition(lats, lons, kind="semantic", max_count=200, min_count=20)
    assert len(partition) == 2
    assert len(set(labels[:150])) == 1 and len(set(labels[150:])) == 1
    assert labels[0] != labels[-1]
    assert {c.country_code for c in partition.cells} == {"FR"}


def test_bad_bounds_are_refused() -> None:
    lats, lons = np.array([10.0, 20.0]), np.array([10.0, 20.0])
    with pytest.raises(ConfigError, match="4 \\* min_count"):
        build_partition(lats, lons, kind="s2", max_count=100, min_count=30)
    with pytest.raises(ConfigError, match="2 \\* min_count"):
        build_partition(lats, lons, kind="semantic", max_count=50, min_count=30)
    with pytest.raises(ConfigError, match="unknown geocell kind"):
        build_partition(lats, lons, kind="h3", max_count=50, min_count=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no training points"):
        build_partition([], [], kind="s2")


def test_a_foreign_file_is_not_a_partition(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"cells": []}')
    with pytest.raises(ConfigError, match="not an ethan geocells file"):
        Partition.load(path)


def test_plot_writes_a_png(points: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from ethan.baselines.plot import plot_partition

    lats, lons = points
    partition, labels = build_partition(lats, lons, kind="s2", max_count=2000, min_count=100)
    out = plot_partition(partition, tmp_path / "cells.png", lats=lats, lons=lons, labels=labels)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
