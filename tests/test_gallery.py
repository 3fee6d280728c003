"""The retrieval gallery: written atomically, memory-mapped, searched exactly (and by ANN),
built from a real manifest by ``ethan gallery build``."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ethan.gallery as gallery_module
from ethan.cli import app
from ethan.errors import ConfigError
from ethan.gallery import Gallery, GalleryWriter
from ethan.images import file_sha256
from tests.conftest import STREETVIEW


def synthetic(n: int, dim: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    """Clustered unit vectors (as real image embeddings are), float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def digest(i: int) -> str:
    return hashlib.sha256(f"image {i}".encode()).hexdigest()


def write(path: Path, vectors: np.ndarray, index: str | None = None, **kw: object) -> Path:
    n = vectors.shape[0]
    rng = np.random.default_rng(1)
    lats, lons = rng.uniform(-80, 80, n), rng.uniform(-179, 179, n)
    with GalleryWriter(
        path, vectors.shape[1], encoder="test", encoder_identity="test:1",
        index=index,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    ) as writer:  # fmt: skip
        for start in range(0, n, 700):  # several batches
            rows = range(start, min(n, start + 700))
            writer.add(
                vectors[start : start + 700] * 3.0,  # stored normalised
                lats[start : start + 700],
                lons[start : start + 700],
                [digest(i) for i in rows],
                [f"id{i}" for i in rows],
                [f"img/{i}.jpg" for i in rows],
                [f"place {i}" if i % 2 else None for i in rows],
            )
    return path


def brute(vectors: np.ndarray, q: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    s = vectors @ q
    order = sorted(range(len(s)), key=lambda i: (-s[i], i))
    return order[:k], order[::-1][:k]


def test_exact_search_matches_brute_force_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = synthetic(3000, 24)
    path = write(tmp_path / "g", vectors)
    monkeypatch.setattr(gallery_module, "CHUNK_BYTES", 24 * 4 * 257)  # 257 rows a chunk
    queries = synthetic(6, 24, seed=5)
    with Gallery(path) as gallery:
        assert len(gallery) == 3000 and gallery.dim == 24 and not gallery.uses_index
        assert isinstance(gallery.vectors, np.memmap)  # not read into memory
        assert np.allclose(np.linalg.norm(gallery.vectors, axis=1), 1.0, atol=1e-5)
        found = gallery.search(queries, 10, negatives=7)
        for q, result in zip(queries, found, strict=True):
            near, far = brute(np.asarray(gallery.vectors), q, 10)
            assert [h.row for h in result.neighbours] == near
            assert [h.row for h in result.negatives] == far[:7]
            sims = [h.similarity for h in result.neighbours]
            assert sims == sorted(sims, reverse=True)
            assert result.neighbours[0].similarity == pytest.approx(float(vectors[near[0]] @ q))


def test_entries_hashes_and_exclusion(tmp_path: Path) -> None:
    vectors = synthetic(1500, 16)
    path = write(tmp_path / "g", vectors)
    with Gallery(path, search="exact") as gallery:
        hit = gallery.entry(901)
        assert (hit.id, hit.image, hit.name, hit.sha256) == (
            "id901", "img/901.jpg", "place 901", digest(901),
        )  # fmt: skip
        assert gallery.entry(900).name is None
        assert gallery.rows_with_hash(digest(901)) == [901]
        assert gallery.rows_with_hash(digest(99999)) == []
        assert gallery.rows_with_hash("not hex") == []
        # the query is row 42 itself: without exclusion it is its own best neighbour
        alone = gallery.search(vectors[42], 5, negatives=0)[0]
        assert alone.neighbours[0].row == 42
        assert alone.neighbours[0].similarity == pytest.approx(1.0, abs=1e-5)
        excluded = gallery.search(vectors[42], 5, negatives=3, exclude=[[42]])[0]
        rows = [h.row for h in excluded.neighbours]
        assert 42 not in rows and len(rows) == 5
        assert rows == [h.row for h in alone.neighbours[1:]] + [rows[-1]]
        assert gallery.search(vectors[42], 3)[0].negatives == []


def test_writer_is_atomic_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "g"
    with pytest.raises(RuntimeError), GalleryWriter(out, 8, encoder="e", encoder_identity="e"):
        raise RuntimeError("crash while embedding")
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written
    write(out, synthetic(10, 8))
    with pytest.raises(ConfigError, match="exists"):
        GalleryWriter(out, 8, encoder="e", encoder_identity="e")
    write(out, synthetic(20, 8), overwrite=True)
    assert len(Gallery(out)) == 20
    writer = GalleryWriter(tmp_path / "h", 8, encoder="e", encoder_identity="e")
    with pytest.raises(ConfigError, match="dimension"):
        writer.add(np.ones((2, 5)), [0, 0], [0, 0], [digest(0), digest(1)], ["a", "b"])
    with pytest.raises(ConfigError, match="SHA-256"):
        writer.add(np.ones((1, 8)), [0], [0], ["abc"], ["a"])
    with pytest.raises(ConfigError, match="within"):
        writer.add(np.ones((1, 8)), [95], [0], [digest(0)], ["a"])
    writer.abort()
    assert not (tmp_path / "h").exists()


def test_not_a_gallery_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a gallery"):
        Gallery(tmp_path)
    path = write(tmp_path / "g", synthetic(30, 8))
    (path / "points.npy").write_bytes(b"broken")
    with pytest.raises(ConfigError, match="cannot read gallery"):
        Gallery(path)
    with pytest.raises(ConfigError, match="no ANN index"):
        Gallery(write(tmp_path / "h", synthetic(30, 8)), search="ann")


def test_ann_index_finds_the_exact_neighbours(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    vectors = synthetic(4000, 32, clusters=20)
    path = write(tmp_path / "g", vectors, index="ivf")
    queries = synthetic(20, 32, seed=9, clusters=20)
    exact = Gallery(path, search="exact")
    ann = Gallery(path, nprobe=8)
    assert ann.uses_index and ann.info.index == "ivf"
    recall, far_recall = [], []
    for e, a in zip(exact.search(queries, 10, negatives=10), ann.search(queries, 10, negatives=10),
                    strict=True):  # fmt: skip
        recall.append(len({h.row for h in e.neighbours} & {h.row for h in a.neighbours}) / 10)
        worst = min(h.similarity for h in e.negatives)
        far_recall.append(np.mean([h.similarity <= worst + 0.2 for h in a.negatives]))
    assert np.mean(recall) >= 0.9
    assert np.mean(far_recall) >= 0.9  # ANN negatives are among the least similar
    own = ann.search(vectors[7], 4, exclude=[[7]])[0]
    assert 7 not in [h.row for h in own.neighbours] and len(own.neighbours) == 4
    hnsw = Gallery(write(tmp_path / "h", vectors[:500], index="hnsw"))
    got = hnsw.search(vectors[3], 1)[0].neighbours[0]
    assert got.row == 3 and got.similarity == pytest.approx(1.0, abs=1e-4)


def test_cli_builds_a_gallery_from_the_shared_manifest(tmp_path: Path) -> None:
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:30]
    manifest = tmp_path / "truth.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        fh.write("missing.jpg,1.0,2.0,Nowhere,Atlantis\n")  # no such image: skipped
    out = tmp_path / "gallery"
    args = ["gallery", "build", str(manifest), "--images-root", str(STREETVIEW / "images"),
            "--encoder", "random:16", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 row(s) skipped" in result.output and "gallery of 30 images" in result.output
    info = json.loads(CliRunner().invoke(app, ["gallery", "info", str(out)]).output)
    assert info["count"] == 30 and info["dim"] == 16 and info["encoder"] == "random:16"
    assert info["encoder_identity"] == "random:16:0:96"
    with Gallery(out) as gallery:
        for i in (0, 29):
            hit = gallery.entry(i)
            row = rows[i]
            assert hit.id == row["filename"] and hit.name == f"{row['city']}, {row['country']}"
            assert (hit.lat, hit.lon) == (float(row["lat"]), float(row["lng"]))
            assert hit.sha256 == file_sha256(STREETVIEW / "images" / row["filename"])
            assert gallery.rows_with_hash(hit.sha256) == [i]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    rebuilt = CliRunner().invoke(app, [*args, "--overwrite"])
    assert rebuilt.exit_code == 0 and "30 from the cache" in rebuilt.output
    bad = CliRunner().invoke(app, ["gallery", "info", str(tmp_path)])
    assert bad.exit_code == 2 and "not a gallery" in bad.output
