"""Geocells: a partition of the training points into classes for a geolocation classifier.

Two kinds are built from the training points (see :func:`build_partition`):

* ``s2`` (PlaNet): adaptive S2 cells, split while they hold more than ``max_count`` points;
  cells below ``min_count`` are pooled with their siblings or dropped
  (:mod:`ethan.baselines.planet`);
* ``semantic`` (PIGEON): countries and their first-level regions, dense ones split by
  clustering, sparse neighbours merged inside the same country
  (:mod:`ethan.baselines.semantic`).

A :class:`Partition` saves to and loads from JSON and assigns any point to its cell
(:meth:`Partition.assign`). Each cell keeps the spherical mean of its training points as its
centroid: the ``g_i`` of haversine label smoothing and the fallback point of a prediction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, Field

from ethan.errors import ConfigError
from ethan.geo import FloatArray, from_unit_vector, to_unit_vectors

Kind = Literal["s2", "semantic"]
IntArray = NDArray[np.int64]
FORMAT = 1
SEA = ""  # the country code of points at sea in semantic partitions


class Cell(BaseModel):
    """One geocell: its name, training-point count, centroid and what it is made of."""

    name: str
    lat: float = Field(ge=-90, le=90, description="spherical mean of its training points")
    lon: float = Field(ge=-180, le=180)
    count: int = Field(ge=0, description="training points in the cell")
    country_code: str | None = None
    country: str | None = None
    region: str | None = None
    tokens: list[str] = Field(default_factory=list, description="S2 cells it covers (s2 kind)")


class Split(BaseModel):
    """A node of a semantic unit's split tree: a leaf (``cell``) or a plane through the
    unit vectors of the points (``normal · v >= offset`` goes to ``pos``)."""

    cell: int | None = None
    normal: tuple[float, float, float] | None = None
    offset: float = 0.0
    pos: Split | None = None
    neg: Split | None = None

    def route(self, vectors: FloatArray) -> IntArray:
        """The leaf cell of each unit vector."""
        out = np.full(len(vectors), -1, dtype=np.int64)
        self._route(vectors, np.arange(len(vectors)), out)
        return out

    def _route(self, vectors: FloatArray, rows: NDArray[np.intp], out: IntArray) -> None:
        if self.cell is not None:
            out[rows] = self.cell
            return
        if self.normal is None or self.pos is None or self.neg is None:
            raise ValueError("a split node needs a normal and two children")
        side = vectors[rows] @ np.asarray(self.normal) >= self.offset
        self.pos._route(vectors, rows[side], out)
        self.neg._route(vectors, rows[~side], out)

    def leaves(self) -> list[int]:
        if self.cell is not None:
            return [self.cell]
        return [*(self.pos.leaves() if self.pos else []), *(self.neg.leaves() if self.neg else [])]


class Partition(BaseModel):
    """Geocells and how to find the cell of a point."""

    format: int = FORMAT
    kind: Kind
    params: dict[str, Any] = Field(default_factory=dict)
    cells: list[Cell]
    units: dict[str, Split] = Field(
        default_factory=dict, description="semantic kind: 'CC|region' → its split tree"
    )

    def __len__(self) -> int:
        return len(self.cells)

    # -- geometry ---------------------------------------------------------------------------
    def centroids(self) -> tuple[FloatArray, FloatArray]:
        """(lats, lons) of the cell centroids, in cell order."""
        lats = np.asarray([c.lat for c in self.cells], dtype=np.float64)
        lons = np.asarray([c.lon for c in self.cells], dtype=np.float64)
        return lats, lons

    def assign(self, lats: ArrayLike, lons: ArrayLike, *, fallback: bool = True) -> IntArray:
        """The cell index of each point; a point no cell covers gets the nearest centroid
        (``fallback=True``) or -1."""
        la = np.asarray(lats, dtype=np.float64).reshape(-1)
        lo = np.asarray(lons, dtype=np.float64).reshape(-1)
        if la.shape != lo.shape:
            raise ValueError(f"lats and lons differ in length: {la.size} != {lo.size}")
        if la.size == 0:
            return np.zeros(0, dtype=np.int64)
        out = self._assign_s2(la, lo) if self.kind == "s2" else self._assign_semantic(la, lo)
        if fallback:
            missing = np.flatnonzero(out < 0)
            if missing.size:
                out[missing] = nearest_cells(self, la[missing], lo[missing])
        return out

    def _assign_s2(self, la: FloatArray, lo: FloatArray) -> IntArray:
        from ethan.baselines import s2

        leaves = s2.leaf_ids(la, lo)
        out = np.full(la.size, -1, dtype=np.int64)
        by_level: dict[int, tuple[list[int], list[int]]] = {}
        for index, cell in enumerate(self.cells):
            for token in cell.tokens:
                cell_id = s2.from_token(token)
                ids, owners = by_level.setdefault(s2.level_of(cell_id), ([], []))
                ids.append(cell_id)
                owners.append(index)
        for level, (ids, owners) in by_level.items():
            order = np.argsort(np.asarray(ids, dtype=np.uint64))
            keys = np.asarray(ids, dtype=np.uint64)[order]
            cells = np.asarray(owners, dtype=np.int64)[order]
            up = s2.parents(leaves, level)
            pos = np.minimum(np.searchsorted(keys, up), keys.size - 1)
            hit = keys[pos] == up
            out[hit] = cells[pos[hit]]
        return out

    def _assign_semantic(self, la: FloatArray, lo: FloatArray) -> IntArray:
        keys, countries = unit_keys(la, lo)
        vectors = to_unit_vectors(la, lo)
        out = np.full(la.size, -1, dtype=np.int64)
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        for key, members in groups.items():
            rows = np.asarray(members, dtype=np.intp)
            tree = self.units.get(key)
            if tree is not None:
                out[rows] = tree.route(vectors[rows])
                continue
            # a region without training points: the nearest cell of the same country
            country = countries[rows[0]]
            same = [i for i, c in enumerate(self.cells) if (c.country_code or SEA) == country]
            if same:
                out[rows] = nearest_cells(self, la[rows], lo[rows], among=same)
        return out

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the partition as JSON (atomically)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            partial.write_text(self.model_dump_json(exclude_none=True), encoding="utf-8")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Partition:
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the geocells file {source}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{source} is not an ethan geocells file (format {FORMAT})")
        return cls.model_validate(data)

    def stats(self) -> dict[str, Any]:
        """Cell count, training points per cell (smallest, median, largest), countries,
        and the bounds the partition was built with."""
        counts = np.asarray([c.count for c in self.cells], dtype=np.int64)
        countries = {c.country_code for c in self.cells if c.country_code}
        return {
            "kind": self.kind,
            "cells": len(self.cells),
            "points": int(counts.sum()),
            "smallest": int(counts.min()) if counts.size else 0,
            "median": float(np.median(counts)) if counts.size else 0.0,
            "largest": int(counts.max()) if counts.size else 0,
            "countries": len(countries),
            "min_count": self.params.get("min_count"),
            "max_count": self.params.get("max_count"),
        }


def spherical_mean(lats: FloatArray, lons: FloatArray) -> tuple[float, float]:
    """The point of the sphere nearest the mean of the points' unit vectors."""
    total = to_unit_vectors(lats, lons).sum(axis=0)
    if float(np.linalg.norm(total)) < 1e-12:  # antipodal points cancel: take the first
        return float(lats[0]), float(lons[0])
    return from_unit_vector(total)


def nearest_cells(
    partition: Partition,
    lats: FloatArray,
    lons: FloatArray,
    *,
    among: Sequence[int] | None = None,
) -> IntArray:
    """Index of the cell whose centroid is nearest each point (``among``: only these)."""
    clat, clon = partition.centroids()
    pool = np.asarray(among if among is not None else range(len(partition.cells)), dtype=np.int64)
    if pool.size == 0:
        return np.full(lats.size, -1, dtype=np.int64)
    centres = to_unit_vectors(clat[pool], clon[pool])
    vectors = to_unit_vectors(lats, lons)
    out = np.empty(lats.size, dtype=np.int64)
    for start in range(0, lats.size, 4096):
        block = vectors[start : start + 4096] @ centres.T
        out[start : start + 4096] = pool[np.argmax(block, axis=1)]
    return out


def unit_keys(lats: FloatArray, lons: FloatArray) -> tuple[list[str], list[str]]:
    """The semantic unit key ("CC|region") and country code ("" at sea) of each point."""
    from ethan.geocode import reverse_many

    places = reverse_many(lats, lons)
    countries = [p.country_code or SEA for p in places]
    keys = [f"{cc}|{p.region or ''}" for cc, p in zip(countries, places, strict=True)]
    return keys, countries
