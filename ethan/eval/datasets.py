"""Datasets for evaluation: images with their true coordinates.

A dataset comes from a manifest (CSV or JSONL) whose columns are recognised by their usual
names, from a documented preset for a public benchmark, or from a folder of photos whose EXIF
carries GPS. Rows that cannot be used are reported with their line number and skipped; a
coordinate is never guessed.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, Field

from ethan.errors import ConfigError
from ethan.images import IMAGE_EXTENSIONS, iter_image_files

ID_COLUMNS = (
    "filename", "file_name", "file", "path", "image_path", "image", "img", "img_id",
    "image_id", "image_file", "photo", "id",
)  # fmt: skip
LAT_COLUMNS = ("lat", "latitude", "gps_lat", "gps_latitude", "y")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "gps_lon", "gps_lng", "gps_longitude", "x")


@dataclass(frozen=True)
class Preset:
    """The published layout of a benchmark's manifest (the user supplies the files)."""

    name: str
    id_column: str
    lat_column: str
    lon_column: str
    image_pattern: str  # how an id becomes a file name under the images root
    notes: str


PRESETS: dict[str, Preset] = {
    "im2gps3k": Preset(
        "im2gps3k", "IMG_ID", "LAT", "LON", "{id}",
        "im2gps3k_places365.csv (columns IMG_ID,AUTHOR,LAT,LON,...; IMG_ID is the file name); "
        "2,997 Flickr photos; images root: the im2gps3ktest folder.",
    ),
    "yfcc4k": Preset(
        "yfcc4k", "IMG_ID", "LAT", "LON", "{id}",
        "yfcc4k_places365.csv (columns IMG_ID,AUTHOR,LAT,LON,...); 4,536 YFCC100M photos; "
        "images root: the yfcc4k folder.",
    ),
    "osv5m": Preset(
        "osv5m", "id", "latitude", "longitude", "{id}.jpg",
        "OpenStreetView-5M test.csv (columns id,latitude,longitude,...,country,region,city); "
        "images root: the extracted images/test folder (its numbered sub-folders are searched).",
    ),
}  # fmt: skip


class Sample(BaseModel):
    id: str
    image: Path
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    meta: dict[str, str] = Field(default_factory=dict)


class RowProblem(BaseModel):
    line: int
    reason: str


class Dataset(BaseModel):
    name: str
    source: str
    samples: list[Sample]
    problems: list[RowProblem] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}


def load_dataset(
    source: str | Path,
    *,
    images_root: str | Path | None = None,
    preset: str | None = None,
    truth: Literal["manifest", "exif"] = "manifest",
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    require_images: bool = True,
) -> Dataset:
    """Load a dataset; ``sample`` draws N rows at random (seeded), ``limit`` keeps the first N.

    ``require_images=False`` keeps rows whose image is absent (scoring needs only the truth).
    """
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"dataset not found: {path}")
    if truth == "exif":
        dataset = _from_exif(path)
    else:
        if path.is_dir():
            raise ConfigError(f"{path} is a folder: pass a manifest file, or --truth exif")
        chosen = _preset(preset)
        root = Path(images_root) if images_root is not None else path.parent
        dataset = _from_manifest(path, root, chosen, require_images)
    samples = dataset.samples
    if sample is not None:
        samples = random.Random(seed).sample(samples, min(sample, len(samples)))
    if limit is not None:
        samples = samples[:limit]
    return dataset.model_copy(update={"samples": samples})


def _preset(name: str | None) -> Preset | None:
    if name is None:
        return None
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


# -- manifests -------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, row) pairs of a CSV or JSONL manifest; bad JSON lines yield an empty row."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        row = {}
                    yield number, row if isinstance(row, dict) else {}
        return
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, row


def _pick(columns: list[str], candidates: tuple[str, ...], what: str, path: Path) -> str:
    lowered = {c.lower().strip(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise ConfigError(
        f"{path}: no {what} column; looked for {', '.join(candidates)} in: {', '.join(columns)}"
    )


def _coordinate(value: Any, low: float, high: float) -> float | str:
    """The number, or the reason it is unusable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "missing"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"not a number ({str(value)[:30]!r})"
    if not math.isfinite(number):
        return "not a finite number"
    if not low <= number <= high:
        return f"out of range ({number})"
    return number


class _ImageFinder:
    """Finds an id's image under the root: direct path first, then by name or stem anywhere."""

    def __init__(self, root: Path, pattern: str) -> None:
        self.root = root
        self.pattern = pattern
        self._index: dict[str, Path] | None = None

    def find(self, image_id: str) -> Path | None:
        direct = self.root / self.pattern.format(id=image_id)
        if direct.is_file():
            return direct
        if self._index is None:
            self._index = {}
            if self.root.is_dir():
                for found in iter_image_files([self.root]):
                    self._index.setdefault(found.name, found)
                    self._index.setdefault(found.stem, found)
        name = Path(self.pattern.format(id=image_id)).name
        return self._index.get(name) or self._index.get(Path(name).stem)


def _from_manifest(
    path: Path, root: Path, preset: Preset | None, require_images: bool = True
) -> Dataset:
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise ConfigError(f"{path} has no rows")
    columns = list(first[1].keys())
    if preset is not None:
        id_col, lat_col, lon_col = preset.id_column, preset.lat_column, preset.lon_column
        missing = [c for c in (id_col, lat_col, lon_col) if c not in columns]
        if missing:
            raise ConfigError(f"{path} lacks the {preset.name} columns {missing}")
    else:
        id_col = _pick(columns, ID_COLUMNS, "image/id", path)
        lat_col = _pick(columns, LAT_COLUMNS, "latitude", path)
        lon_col = _pick(columns, LON_COLUMNS, "longitude", path)
    finder = _ImageFinder(root, preset.image_pattern if preset else "{id}")
    samples: list[Sample] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}

    def rows_again() -> Iterator[tuple[int, Mapping[str, Any]]]:
        yield first
        yield from rows

    for line, row in rows_again():
        reason = _check_row(row, id_col, lat_col, lon_col, seen, line)
        if isinstance(reason, str):
            problems.append(RowProblem(line=line, reason=reason))
            continue
        image_id, lat, lon = reason
        image = finder.find(image_id) if require_images else root / image_id
        if image is None:
            problems.append(RowProblem(line=line, reason=f"image {image_id!r} not found in {root}"))
            continue
        seen[image_id] = line
        meta = {k: str(v) for k, v in row.items() if k not in (id_col, lat_col, lon_col) and v}
        samples.append(Sample(id=image_id, image=image, lat=lat, lon=lon, meta=meta))
    return Dataset(name=path.stem, source=str(path), samples=samples, problems=problems)


def _check_row(
    row: Mapping[str, Any], id_col: str, lat_col: str, lon_col: str, seen: dict[str, int], line: int
) -> tuple[str, float, float] | str:
    if not row:
        return "not a JSON object"
    image_id = str(row.get(id_col) or "").strip()
    if not image_id:
        return f"no {id_col}"
    if image_id in seen:
        return f"duplicate id {image_id!r} (first on line {seen[image_id]})"
    lat = _coordinate(row.get(lat_col), -90, 90)
    lon = _coordinate(row.get(lon_col), -180, 180)
    if isinstance(lat, str):
        return f"latitude {lat}"
    if isinstance(lon, str):
        return f"longitude {lon}"
    return image_id, lat, lon


# -- EXIF truth ------------------------------------------------------------------------------


def exif_gps(path: Path) -> tuple[float, float] | None:
    """Decimal (lat, lon) from a photo's EXIF GPS block, or None when it has none."""
    try:
        with Image.open(path) as img:
            gps = img.getexif().get_ifd(0x8825)
    except (OSError, ValueError, SyntaxError):
        return None
    try:
        lat = _dms(gps[2], gps.get(1, "N"))
        lon = _dms(gps[4], gps.get(3, "E"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not all(map(math.isfinite, (lat, lon))):
        return None
    return lat, lon


def _dms(value: Any, ref: Any) -> float:
    degrees, minutes, seconds = (float(v) for v in value)
    decimal = degrees + minutes / 60 + seconds / 3600
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -decimal if ref_text.strip().upper() in ("S", "W") else decimal


def _from_exif(folder: Path) -> Dataset:
    samples: list[Sample] = []
    problems: list[RowProblem] = []
    for number, image in enumerate(iter_image_files([folder]), start=1):
        if image.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        point = exif_gps(image)
        if point is None:
            problems.append(RowProblem(line=number, reason=f"{image}: no usable EXIF GPS"))
            continue
        rel = str(image.relative_to(folder)) if folder.is_dir() else image.name
        samples.append(Sample(id=rel, image=image, lat=point[0], lon=point[1]))
    return Dataset(name=folder.name, source=str(folder), samples=samples, problems=problems)
