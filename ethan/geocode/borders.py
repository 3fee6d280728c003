"""Country polygons for reverse lookup: Natural Earth admin-0, cut into small tiles.

The polygons are Natural Earth's 1:10m admin-0 countries (public domain) as shipped by the
``geo-intel-offline`` package (MIT). Its ISO codes are patched where Natural Earth writes
``-99`` (France, Norway, Kosovo, Northern Cyprus...) or ``CN-TW`` (Taiwan).

Each country part is clipped to a grid of :data:`TILE_DEG` degree tiles, so that a
point-in-polygon test only ever looks at a few hundred vertices: a batch of points is tested
at close to a million points a second. The tiles are cached as WKB in the user cache dir,
keyed by the ``geo-intel-offline`` version and this module's source, so later processes load
them in well under a tenth of a second.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ethan.geo import FloatArray

log = logging.getLogger(__name__)

TILE_DEG = 2.0
FORMAT_VERSION = 1

# Natural Earth features without a usable ISO 3166-1 code → the code GeoNames files them
# under (None: disputed or no-man's land, no country).
_NAMED_CODES: dict[str, str | None] = {
    "France": "FR",
    "Norway": "NO",
    "Kosovo": "XK",
    "Somaliland": "SO",
    "N. Cyprus": "CY",
    "Cyprus U.N. Buffer Zone": "CY",
    "Dhekelia": "CY",
    "Akrotiri": "CY",
    "USNB Guantanamo Bay": "CU",
    "Brazilian I.": "BR",
    "Siachen Glacier": "IN",
    "Baikonur": "KZ",
    "Southern Patagonian Ice Field": "AR",
    "Bir Tawil": None,
    "Taiwan": "TW",
    "Coral Sea Is.": "AU",
    "Ashmore and Cartier Is.": "AU",
    "Clipperton I.": "FR",
    "Bajo Nuevo Bank": "CO",
    "Serranilla Bank": "CO",
    "Spratly Is.": None,
    "Scarborough Reef": None,
    "Indian Ocean Ter.": "CX",  # Christmas Island; the Cocos Islands are split off by longitude
}


@dataclass
class Tiles:
    """Polygon pieces, each no larger than one tile, with the ISO2 code of its country."""

    geoms: np.ndarray[Any, np.dtype[np.object_]]
    codes: list[str]

    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)


def _package_data() -> tuple[Path, str]:
    spec = importlib.util.find_spec("geo_intel_offline")
    if spec is None or spec.origin is None:
        from ethan.errors import MissingDependencyError

        raise MissingDependencyError(
            "reverse geocoding needs the country polygons of geo-intel-offline: "
            "pip install geo-intel-offline"
        )
    version = importlib.metadata.version("geo-intel-offline")
    return Path(spec.origin).parent / "data", version


def _iso(meta: dict[str, Any]) -> str | None:
    name = str(meta.get("name", ""))
    code = str(meta.get("iso2", ""))
    if name in _NAMED_CODES:
        return _NAMED_CODES[name]
    if len(code) == 2 and code.isalpha():
        return code.upper()
    return None


def _polygon(ring: list[list[float]]) -> shapely.Geometry:
    """A valid polygon from (lat, lon) pairs, swapped to (x=lon, y=lat)."""
    poly = shapely.polygons(np.asarray(ring, dtype=np.float64)[:, ::-1])
    return poly if shapely.is_valid(poly) else shapely.make_valid(poly)


def _rings(feature: dict[str, Any]) -> list[shapely.Geometry]:
    """The parts of one feature as valid polygons, holes cut out."""
    exteriors = feature.get("exteriors") if feature.get("multi") else [feature["exterior"]]
    parts = [_polygon(ring) for ring in exteriors or [] if len(ring) >= 4]
    holes = [_polygon(h) for h in feature.get("holes") or [] if len(h) >= 4]
    if holes:
        cut = shapely.union_all(holes)
        parts = [p.difference(cut) if p.intersects(cut) else p for p in parts]
    return parts


@functools.lru_cache(maxsize=1)
def country_parts() -> tuple[list[shapely.Geometry], list[str]]:
    """Every polygon part of every country, with the ISO2 code of its country."""
    data, _ = _package_data()
    with gzip.open(data / "polygons.json.gz", "rt", encoding="utf-8") as f:
        features: dict[str, dict[str, Any]] = json.load(f)
    with gzip.open(data / "metadata.json.gz", "rt", encoding="utf-8") as f:
        metadata: dict[str, dict[str, Any]] = json.load(f)
    parts: list[shapely.Geometry] = []
    owners: list[str] = []
    for key, feature in features.items():
        iso = _iso(metadata.get(key, {}))
        if iso is None:
            continue
        for part in _rings(feature):
            if not part.is_empty:
                parts.append(part)
                owners.append(iso)
    return parts, owners


def country_centroids() -> dict[str, tuple[float, float]]:
    """(lat, lon) of the centroid of each country's largest polygon part (its mainland)."""
    parts, owners = country_parts()
    areas = shapely.area(np.asarray(parts, dtype=object))
    best: dict[str, int] = {}
    for i, iso in enumerate(owners):
        if iso not in best or areas[i] > areas[best[iso]]:
            best[iso] = i
    out: dict[str, tuple[float, float]] = {}
    for iso, i in best.items():
        c = parts[i].centroid
        out[iso] = (round(float(c.y), 5), round(float(c.x), 5))
    return out


def build_tiles() -> Tiles:
    """Read the polygons and clip every country part to the tile grid (a few seconds)."""
    parts, owners = country_parts()
    tree = shapely.STRtree(parts)
    xs = np.arange(-180.0, 180.0, TILE_DEG)
    ys = np.arange(-90.0, 90.0, TILE_DEG)
    cells = [shapely.box(x, y, x + TILE_DEG, y + TILE_DEG) for x in xs for y in ys]
    cell_index, part_index = tree.query(cells, predicate="intersects")
    geoms: list[shapely.Geometry] = []
    codes: list[str] = []
    for c, p in zip(cell_index.tolist(), part_index.tolist(), strict=True):
        x0, y0, x1, y1 = cells[c].bounds
        piece = shapely.clip_by_rect(parts[p], x0, y0, x1, y1)
        if not piece.is_empty:
            geoms.append(piece)
            codes.append(owners[p])
    return Tiles(np.asarray(geoms, dtype=object), codes)


def _fingerprint() -> str:
    source = Path(__file__)
    digest = hashlib.sha256()
    with contextlib.suppress(OSError):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def tiles_cache_path(cache_dir: Path) -> Path:
    _, version = _package_data()
    return cache_dir / f"borders-v{FORMAT_VERSION}-gio{version}-{_fingerprint()}.wkb.gz"


def load_tiles(cache_dir: Path | None) -> Tiles:
    """The tiles from the cache when valid, else built and cached (``None``: no disk cache)."""
    path = tiles_cache_path(cache_dir) if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            return _read(path)
        except (OSError, ValueError, shapely.errors.ShapelyError) as exc:
            log.warning("rebuilding the border tiles: cannot read %s (%s)", path, exc)
    tiles = _built()
    if path is not None:
        _write(path, tiles)
        for old in path.parent.glob("borders-v*.wkb.gz"):
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
    return tiles


@functools.cache
def _built() -> Tiles:
    """Build once per process: the tiles are never modified after they are built."""
    return build_tiles()


def _read(path: Path) -> Tiles:
    with gzip.open(path, "rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
        blob = f.read()
    sizes = np.asarray(header["sizes"], dtype=np.int64)
    if int(sizes.sum()) != len(blob) or len(sizes) != len(header["codes"]):
        raise ValueError("truncated border tiles")
    ends = np.cumsum(sizes)
    chunks = [blob[e - s : e] for s, e in zip(sizes.tolist(), ends.tolist(), strict=True)]
    geoms = shapely.from_wkb(np.asarray(chunks, dtype=object))
    return Tiles(np.asarray(geoms, dtype=object), list(header["codes"]))


def _write(path: Path, tiles: Tiles) -> None:
    chunks = [bytes(b) for b in shapely.to_wkb(tiles.geoms)]
    header = json.dumps({"codes": tiles.codes, "sizes": [len(c) for c in chunks]}).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f,
            ):
                f.write(len(header).to_bytes(8, "little"))
                f.write(header)
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("border tiles not cached at %s: %s", path, exc)


def points(lats: FloatArray, lons: FloatArray) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Shapely points (x=lon, y=lat) for arrays of coordinates."""
    return np.asarray(shapely.points(lons, lats), dtype=object)
