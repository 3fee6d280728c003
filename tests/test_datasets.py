"""Datasets: column detection, presets, EXIF truth, bad rows reported and never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ethan.errors import ConfigError
from ethan.eval.datasets import exif_gps, load_dataset
from tests.conftest import STREETVIEW


def _photo(path: Path, gps: dict[int, object] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (32, 24), (120, 160, 90))
    exif = Image.Exif()
    if gps is not None:
        exif[0x8825] = gps
    img.save(path, "JPEG", exif=exif)
    return path


def test_streetview_truth_is_read_whole() -> None:
    data = load_dataset(STREETVIEW / "truth.csv", images_root=STREETVIEW / "images")
    assert len(data) == 200 and not data.problems
    first = data.samples[0]
    assert first.id == "8.jpg" and first.image == STREETVIEW / "images" / "8.jpg"
    assert (first.lat, first.lon) == (-37.55962733, 143.847606)
    assert first.meta == {"city": "Ballarat", "country": "Australia"}


def test_limit_and_seeded_sample() -> None:
    root = STREETVIEW / "images"
    assert [
        s.id for s in load_dataset(STREETVIEW / "truth.csv", images_root=root, limit=3).samples
    ] == [
        "8.jpg",
        "24.jpg",
        "46.jpg",
    ]
    a = load_dataset(STREETVIEW / "truth.csv", images_root=root, sample=10, seed=7)
    b = load_dataset(STREETVIEW / "truth.csv", images_root=root, sample=10, seed=7)
    c = load_dataset(STREETVIEW / "truth.csv", images_root=root, sample=10, seed=8)
    assert [s.id for s in a.samples] == [s.id for s in b.samples] != [s.id for s in c.samples]
    assert len(set(s.id for s in a.samples)) == 10


def test_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"):
        _photo(tmp_path / name)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,Latitude,LNG\n"
        "a.jpg,10.5,20.25\n"  # line 2: fine
        "b.jpg,,20\n"  # 3: missing lat
        "c.jpg,nan,20\n"  # 4: NaN
        "d.jpg,95,20\n"  # 5: out of range
        "a.jpg,1,2\n"  # 6: duplicate
        "e.jpg,abc,2\n"  # 7: not a number
        "missing.jpg,1,2\n"  # 8: no image
        "f.jpg,-10,-190\n",  # 9: lon out of range
        encoding="utf-8",
    )
    data = load_dataset(manifest)
    assert [s.id for s in data.samples] == ["a.jpg"]
    assert (data.samples[0].lat, data.samples[0].lon) == (10.5, 20.25)
    reasons = {p.line: p.reason for p in data.problems}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "missing" in reasons[3] and "finite" in reasons[4] and "range" in reasons[5]
    assert "duplicate" in reasons[6] and "line 2" in reasons[6]
    assert "not a number" in reasons[7] and "not found" in reasons[8] and "longitude" in reasons[9]


def test_jsonl_manifest_and_ids_without_extension(tmp_path: Path) -> None:
    _photo(tmp_path / "imgs" / "x1.jpg")
    _photo(tmp_path / "imgs" / "sub" / "x2.png")
    manifest = tmp_path / "m.jsonl"
    lines = [
        {"image_id": "x1", "latitude": 1.0, "longitude": 2.0},
        {"image_id": "x2", "latitude": "3.5", "longitude": "-4"},
        "not an object",
    ]
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n", encoding="utf-8")
    data = load_dataset(manifest, images_root=tmp_path / "imgs")
    assert [(s.id, s.image.name, s.lat, s.lon) for s in data.samples] == [
        ("x1", "x1.jpg", 1.0, 2.0),
        ("x2", "x2.png", 3.5, -4.0),
    ]
    assert [p.line for p in data.problems] == [3, 4]


@pytest.mark.parametrize(
    ("preset", "header", "row", "image"),
    [
        ("im2gps3k", "IMG_ID,AUTHOR,LAT,LON,S3_Label", "9_1.jpg,someone,48.1,11.5,3", "9_1.jpg"),
        ("yfcc4k", "IMG_ID,AUTHOR,LAT,LON", "abc.jpg,x,-33.9,151.2", "abc.jpg"),
        ("osv5m", "id,latitude,longitude,country,region,city", "123,45.0,7.6,IT,Piemonte,Turin",
         "07/123.jpg"),
    ],
)  # fmt: skip
def test_presets_read_published_layouts(
    tmp_path: Path, preset: str, header: str, row: str, image: str
) -> None:
    _photo(tmp_path / "images" / image)
    manifest = tmp_path / "test.csv"
    manifest.write_text(f"{header}\n{row}\n", encoding="utf-8")
    data = load_dataset(manifest, images_root=tmp_path / "images", preset=preset)
    assert len(data) == 1 and not data.problems
    assert data.samples[0].image == tmp_path / "images" / image


def test_unknown_columns_and_preset_are_clear_errors(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"latitude|image"):
        load_dataset(manifest)
    with pytest.raises(ConfigError, match="im2gps3k"):
        load_dataset(manifest, preset="nope")
    with pytest.raises(ConfigError, match="not found"):
        load_dataset(tmp_path / "absent.csv")


def test_exif_truth(tmp_path: Path) -> None:
    gps = {1: "S", 2: (33.0, 52.0, 4.0), 3: "E", 4: (151.0, 12.0, 36.0)}
    _photo(tmp_path / "photos" / "sydney.jpg", gps)
    _photo(tmp_path / "photos" / "nested" / "nogps.jpg")
    lat, lon = exif_gps(tmp_path / "photos" / "sydney.jpg") or (None, None)
    assert lat == pytest.approx(-33.8678, abs=1e-3) and lon == pytest.approx(151.21, abs=1e-3)
    data = load_dataset(tmp_path / "photos", truth="exif")
    assert [s.id for s in data.samples] == ["sydney.jpg"]
    assert len(data.problems) == 1 and "nogps.jpg" in data.problems[0].reason
