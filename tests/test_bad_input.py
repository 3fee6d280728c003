"""Whatever an OSINT user points ``ethan locate`` at, the run finishes and nothing is lost.

One folder holds every kind of bad or odd input next to good photos: empty, truncated and
fake files, decompression bombs, CMYK, 16-bit, animated, huge-EXIF and rotated images,
unicode names, a directory named like a photo and symlink loops between folders. The real
``ethan`` command runs over it against the local replay server: every walked image gets
exactly one line, a bad one an ``error`` naming its problem, an odd-but-valid one an answer.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ethan import Prediction, Status
from ethan.images import jpeg_metadata_segments, path_label
from tests.conftest import STREETVIEW, run_ethan
from tests.replay_server import ReplayServer

# A corpus photo whose recorded gpt-4o answer gives a point, so a readable variant is ``ok``.
BASE_PHOTO = STREETVIEW / "images" / "1001.jpg"
SIDE = 160
EXIF_ORIENTATION = 0x0112
EXIF_IMAGE_DESCRIPTION = 0x010E


@dataclass(frozen=True)
class Case:
    """What one input must produce: a status and, for errors, words the message must hold."""

    status: Status
    reason: str = ""


def _base() -> Image.Image:
    with Image.open(BASE_PHOTO) as photo:
        image: Image.Image = photo.convert("RGB")
    image.thumbnail((SIDE, SIDE))
    return image


def _jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, so its header can say anything (Pillow cannot write 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _rgb48_png(image: Image.Image) -> bytes:
    wide = np.asarray(image, dtype=">u2") * 257  # 8-bit values spread over 16 bits
    height, width, _ = wide.shape
    rows = b"".join(b"\x00" + wide[y].tobytes() for y in range(height))  # filter 0 per row
    return _png(width, height, 16, 2, rows)


def _bomb_png(side: int) -> bytes:
    """A tiny file whose header declares ``side`` x ``side`` RGB pixels."""
    return _png(side, side, 8, 2, b"\x00" * 64)


def _exif_jpeg(image: Image.Image, **tags: object) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[int(tag)] = value
    return _jpeg(image, exif=exif.tobytes())


def build_matrix(root: Path) -> dict[str, Case]:
    """Write the inputs under ``root``; map each walked file (relative path) to its outcome."""
    base = _base()
    good = _jpeg(base)
    png = io.BytesIO()
    base.save(png, "PNG")
    frames = [base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base.convert("L")]
    files: dict[str, bytes] = {
        "good.jpg": good,
        "upper-case.JPEG": good,
        "png-named.jpg": png.getvalue(),
        "東京 café 🚗.jpg": good,
        "cmyk.jpg": _jpeg(base.convert("CMYK")),
        "rgb48.png": _rgb48_png(base),
        "big-exif.jpg": _exif_jpeg(base, **{str(EXIF_IMAGE_DESCRIPTION): "x" * 60_000}),
        "rotated-6.jpg": _exif_jpeg(base, **{str(EXIF_ORIENTATION): 6}),
        "rotated-8.jpg": _exif_jpeg(base, **{str(EXIF_ORIENTATION): 8}),
        "bad-orientation.jpg": _exif_jpeg(base, **{str(EXIF_ORIENTATION): 99}),
        "empty.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "truncated-header.jpg": good[:100],
        "truncated.png": png.getvalue()[: len(png.getvalue()) // 2],
        "text.jpg": b"not a photo, just text\n",
        "bomb-30000.png": _bomb_png(30_000),
        "bomb-12000.png": _bomb_png(12_000),  # under Pillow's own limit, over ethan's
        "x.jpg/inside.jpg": good,  # a directory named like a photo is walked, not read
        "loop/a/in-a.jpg": good,
        "loop/b/in-b.jpg": good,
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    grey16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(root / "grey16.png")  # mode I;16
    base.save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    base.save(root / "anim.webp", save_all=True, append_images=frames[1:], duration=80, loop=0)
    # Two folders that link to each other, and one that links back to the root.
    (root / "loop" / "a" / "to-b").symlink_to(root / "loop" / "b", target_is_directory=True)
    (root / "loop" / "b" / "to-a").symlink_to(Path("..") / "a", target_is_directory=True)
    (root / "loop" / "b" / "to-root").symlink_to(root, target_is_directory=True)
    # Not walked as images (by design): a dangling link, a hidden file, a non-image suffix.
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / ".hidden.jpg").write_bytes(good)
    (root / "notes.txt").write_text("not an image suffix\n")
    ok = Case(Status.OK)
    cases = {
        "good.jpg": ok,
        "upper-case.JPEG": ok,
        "png-named.jpg": ok,
        "東京 café 🚗.jpg": ok,
        "cmyk.jpg": ok,
        "rgb48.png": ok,
        "grey16.png": ok,
        "anim.gif": ok,
        "anim.webp": ok,
        "big-exif.jpg": ok,
        "rotated-6.jpg": ok,
        "rotated-8.jpg": ok,
        "bad-orientation.jpg": ok,
        "x.jpg/inside.jpg": ok,
        "loop/a/in-a.jpg": ok,
        "loop/b/in-b.jpg": ok,
        "empty.jpg": Case(Status.ERROR, "empty file"),
        "truncated.jpg": Case(Status.ERROR, "truncated file"),
        "truncated-header.jpg": Case(Status.ERROR, "truncated file"),
        "truncated.png": Case(Status.ERROR, "truncated file"),
        "text.jpg": Case(Status.ERROR, "not an image"),
        "bomb-30000.png": Case(Status.ERROR, "too many pixels"),
        "bomb-12000.png": Case(Status.ERROR, "too many pixels: 12000x12000"),
    }
    if os.geteuid() != 0:  # root reads anything, so the case only exists for other users
        (root / "unreadable.jpg").write_bytes(good)
        (root / "unreadable.jpg").chmod(0)
        cases["unreadable.jpg"] = Case(Status.ERROR, "permission denied")
    return cases


def _read_lines(path: Path) -> list[Prediction]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the last line is whole"
    text = raw.decode("utf-8")  # strict: every byte of the file is valid UTF-8
    lines = text.splitlines()
    for line in lines:
        json.loads(line)  # each line is standard JSON on its own
    return [Prediction.model_validate_json(line) for line in lines]


def _locate(folder: Path, server: ReplayServer, out: Path, *extra: str) -> list[Prediction]:
    run = run_ethan(
        "locate",
        str(folder),
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        "--no-cache",
        "--concurrency",
        "8",
        *extra,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return _read_lines(out)


def _sent_images(server: ReplayServer) -> list[bytes]:
    images = []
    for request in server.requests:
        for message in request.json()["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                if part.get("type") == "image_url":
                    images.append(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))
    return images


def test_bad_input_matrix_every_image_once_with_a_clear_status(
    server: ReplayServer, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    cases = build_matrix(folder)
    predictions = _locate(folder, server, tmp_path / "r.jsonl")

    def real(prediction: Prediction) -> str:  # a file reached through a link is itself
        return Path(os.path.realpath(prediction.image)).relative_to(folder.resolve()).as_posix()

    names = Counter(real(p) for p in predictions)
    assert [n for n, count in names.items() if count > 1] == [], "an image came twice"
    assert sorted(names) == sorted(cases), "every walked image appears, nothing else"
    by_name = {real(p): p for p in predictions}
    for name, case in cases.items():
        prediction = by_name[name]
        assert prediction.status is case.status, (name, prediction.status, prediction.message)
        if case.status is Status.ERROR:
            assert case.reason in prediction.message.lower(), (name, prediction.message)
            assert Path(name).name in prediction.message, "the message names the file"
            assert prediction.lat is None and prediction.lon is None
        else:
            assert prediction.lat is not None and prediction.lon is not None

    # Bad files never reach the server; every readable one is sent once, stripped clean.
    sent = _sent_images(server)
    readable = [n for n, c in cases.items() if c.status is Status.OK]
    assert len(sent) == len(readable)
    assert all(jpeg_metadata_segments(data) == [] for data in sent)
    # The two rotated photos arrive upright: portrait, each turned its own way.
    upright = np.asarray(_base().convert("L"), dtype=np.float32)
    portraits = []
    for data in sent:
        with Image.open(io.BytesIO(data)) as img:
            if img.height > img.width:
                portraits.append(np.asarray(img.convert("L"), dtype=np.float32))
    assert len(portraits) == 2
    turned = {
        6: np.rot90(upright, k=-1),  # orientation 6: stored turned left, shown turned right
        8: np.rot90(upright, k=1),
    }
    matches = sorted(
        min(turned, key=lambda o: float(np.abs(turned[o] - p).mean())) for p in portraits
    )
    assert matches == [6, 8]


def test_non_utf8_file_names_become_valid_json_lines_and_resume(
    server: ReplayServer, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    good = _jpeg(_base())
    raw_names = [b"caf\xe9.jpg", b"bad\xff\xfe.jpg", b"plain.jpg"]
    try:
        for raw in raw_names:
            data = good if raw != b"bad\xff\xfe.jpg" else b"plain text, not a photo"
            with open(os.path.join(os.fsencode(folder), raw), "wb") as fh:
                fh.write(data)
    except OSError as exc:  # e.g. macOS file systems refuse non-UTF-8 names
        pytest.skip(f"this file system refuses non-UTF-8 names: {exc}")
    out = tmp_path / "r.jsonl"

    predictions = _locate(folder, server, out)

    by_name = {Path(p.image).name: p for p in predictions}
    assert sorted(by_name) == ["bad\\xff\\xfe.jpg", "caf\\xe9.jpg", "plain.jpg"]
    assert by_name["caf\\xe9.jpg"].status is Status.OK
    assert by_name["caf\\xe9.jpg"].image == path_label(folder / os.fsdecode(b"caf\xe9.jpg"))
    bad = by_name["bad\\xff\\xfe.jpg"]
    assert bad.status is Status.ERROR
    assert "bad\\xff\\xfe.jpg" in bad.message and "not an image" in bad.message
    # --resume recognises the escaped names: nothing is sent or written twice.
    sent = len(server.requests)
    again = _locate(folder, server, out, "--resume")
    assert len(again) == 3
    assert len(server.requests) == sent
