from __future__ import annotations

import hashlib
import io
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms

from ethan import images
from ethan.backends.base import ImagePart
from ethan.errors import ImageError
from ethan.images import (
    IMAGE_EXTENSIONS,
    PreparedImage,
    file_sha256,
    iter_image_files,
    jpeg_metadata_segments,
    prepare_image,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "streetview-dev"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="camera"/></rdf:RDF></x:xmpmeta>'
)
XYZ = tuple[float, float, float]
SRGB_RED: XYZ = (0.4361, 0.2225, 0.0139)  # sRGB primaries adapted to D50
SRGB_GREEN: XYZ = (0.3851, 0.7169, 0.0971)
SRGB_BLUE: XYZ = (0.1431, 0.0606, 0.7141)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------- helpers


def header_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every JPEG header segment, parsed independently of the code."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments: list[tuple[int, bytes]] = []
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments


def assert_clean_jpeg(data: bytes) -> None:
    markers = [marker for marker, _ in header_segments(data)]
    assert not [m for m in markers if 0xE1 <= m <= 0xEF], "APP1..APP15 segment present"
    assert 0xFE not in markers, "COM segment present"
    for needle in (b"Exif", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"secret"):
        assert needle not in data
    assert jpeg_metadata_segments(data) == []
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.mode == "RGB"
        assert not decoded.getexif()
        assert "icc_profile" not in decoded.info
        assert "comment" not in decoded.info


def decode(prepared: PreparedImage) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    return image


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    image.save(path, **params)
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def rgb_icc_profile(red: XYZ, green: XYZ, blue: XYZ, name: bytes) -> bytes:
    """A minimal ICC v2 RGB display profile: D50 primaries and a 2.2 gamma curve."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(point: XYZ) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in point)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name) + 1) + name + b"\0" * 79
    white = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(white)),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + b"\0" * 4
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + xyz(white)[8:]
        + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + body


def near(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


# --------------------------------------------------------------------------- metadata


@pytest.fixture
def tagged_jpeg(tmp_path: Path) -> Path:
    image = Image.new("RGB", (20, 10), (255, 0, 0))
    image.paste((0, 0, 255), (10, 0, 20, 10))  # left half red, right half blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "SecretCam"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    )
    return save(
        image,
        tmp_path / "tagged.jpg",
        format="JPEG",
        quality=95,
        exif=exif,
        icc_profile=SRGB_ICC,
        comment=b"secret comment",
        xmp=XMP,
    )


def test_input_really_carries_metadata(tagged_jpeg: Path) -> None:
    data = tagged_jpeg.read_bytes()
    markers = [marker for marker, _ in header_segments(data)]
    assert 0xE1 in markers and 0xE2 in markers and 0xFE in markers
    assert b"http://ns.adobe.com/xap" in data and b"ICC_PROFILE" in data
    with Image.open(tagged_jpeg) as image:
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_strips_every_kind_of_metadata(tagged_jpeg: Path) -> None:
    prepared = prepare_image(tagged_jpeg)
    assert_clean_jpeg(prepared.data)
    assert b"SecretCam" not in prepared.data


def test_applies_exif_orientation(tagged_jpeg: Path) -> None:
    prepared = prepare_image(tagged_jpeg)
    assert (prepared.width, prepared.height) == (10, 20)
    image = decode(prepared)
    assert image.size == (10, 20)
    # orientation 6 means "rotate 90° clockwise to view": the left (red) half goes on top
    assert near(image.getpixel((5, 3)), (255, 0, 0))  # type: ignore[arg-type]
    assert near(image.getpixel((5, 16)), (0, 0, 255))  # type: ignore[arg-type]


def test_hash_and_part(tagged_jpeg: Path) -> None:
    prepared = prepare_image(tagged_jpeg)
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()
    assert prepared.mime == "image/jpeg"
    part = prepared.part()
    assert isinstance(part, ImagePart)
    assert (part.data, part.sha256, part.mime) == (prepared.data, prepared.sha256, "image/jpeg")
    assert prepare_image(tagged_jpeg.read_bytes()).sha256 == prepared.sha256  # bytes = path


def test_deterministic(tagged_jpeg: Path) -> None:
    assert prepare_image(tagged_jpeg).data == prepare_image(tagged_jpeg).data


def test_unusable_icc_profile_is_dropped_not_fatal(tmp_path: Path) -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = save(Image.new("RGB", (8, 8), (0, 128, 0)), tmp_path / "lab.jpg", icc_profile=lab)
    prepared = prepare_image(path)
    assert_clean_jpeg(prepared.data)
    assert near(decode(prepared).getpixel((4, 4)), (0, 128, 0))  # type: ignore[arg-type]


def test_colours_converted_to_srgb_through_the_embedded_profile(tmp_path: Path) -> None:
    swapped = rgb_icc_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, b"swapped primaries")
    assert len(swapped) == struct.unpack(">I", swapped[:4])[0]
    image = Image.new("RGB", (8, 8), (255, 0, 0))  # "red" means sRGB green in this profile
    prepared = prepare_image(save(image, tmp_path / "swapped.png", icc_profile=swapped))
    assert_clean_jpeg(prepared.data)
    assert near(decode(prepared).getpixel((4, 4)), (0, 255, 0), 10)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((3000, 1500), 1024, (1024, 512)),
        ((1500, 3000), 1024, (512, 1024)),
        ((2048, 2048), 512, (512, 512)),
        ((300, 200), 1024, (300, 200)),  # never upscaled
        ((5000, 3), 1000, (1000, 1)),  # a side never reaches zero
    ],
)
def test_max_side(
    tmp_path: Path, size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    path = save(Image.new("RGB", size, (10, 200, 30)), tmp_path / "big.png")
    prepared = prepare_image(path, max_side=max_side)
    assert (prepared.width, prepared.height) == expected
    assert decode(prepared).size == expected


def test_big_jpeg_uses_draft_and_keeps_aspect(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4000, 3000), (90, 90, 200)), tmp_path / "big.jpg")
    prepared = prepare_image(path, max_side=800)
    assert (prepared.width, prepared.height) == (800, 600)
    assert near(decode(prepared).getpixel((400, 300)), (90, 90, 200), 10)  # type: ignore[arg-type]


def test_rejects_bad_arguments(tagged_jpeg: Path) -> None:
    with pytest.raises(ValueError):
        prepare_image(tagged_jpeg, max_side=0)
    with pytest.raises(ValueError):
        prepare_image(tagged_jpeg, quality=0)


# --------------------------------------------------------------------------- modes and formats


def test_rgba_png_alpha_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red
    image.paste((0, 0, 255, 255), (10, 0, 20, 20))  # opaque blue right half
    prepared = prepare_image(save(image, tmp_path / "alpha.png"))
    out = decode(prepared)
    assert out.mode == "RGB"
    assert near(out.getpixel((4, 10)), (255, 255, 255), 5)  # type: ignore[arg-type]
    assert near(out.getpixel((15, 10)), (0, 0, 255))  # type: ignore[arg-type]
    assert_clean_jpeg(prepared.data)


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("P", (16, 16), 0) for _ in range(3)]
    palette = [255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (768 - 9)
    for index, frame in enumerate(frames):
        frame.putpalette(palette)
        frame.paste(index, (0, 0, 16, 16))
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert getattr(check, "n_frames", 1) == 3
    prepared = prepare_image(path)
    assert near(decode(prepared).getpixel((8, 8)), (255, 0, 0))  # type: ignore[arg-type]


def test_animated_webp_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ((0, 200, 0), (200, 0, 0))]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    prepared = prepare_image(path)
    assert near(decode(prepared).getpixel((8, 8)), (0, 200, 0))  # type: ignore[arg-type]


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    image = Image.new("I;16", (256, 4))
    image.putdata([x * 257 for x in range(256)] * 4)  # 0 .. 65535 left to right
    path = save(image, tmp_path / "deep.png")
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    out = decode(prepare_image(path))
    assert out.mode == "RGB"
    dark, mid, light = (out.getpixel((x, 2)) for x in (2, 128, 253))
    assert dark[0] < 15 and 100 < mid[0] < 155 and light[0] > 240  # type: ignore[index]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    out = decode(prepare_image(path))
    assert near(out.getpixel((8, 8)), (255, 0, 0), 50)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "color", "suffix"),
    [
        ("1", 1, ".png"),
        ("L", 128, ".bmp"),
        ("LA", (128, 255), ".png"),
        ("P", 3, ".gif"),
        ("I", 40000, ".tiff"),
        ("F", 0.5, ".tif"),
        ("RGB", (1, 2, 3), ".webp"),
        ("RGB", (1, 2, 3), ".bmp"),
        ("CMYK", (0, 0, 0, 0), ".tiff"),
        ("RGBA", (1, 2, 3, 128), ".webp"),
    ],
)
def test_any_mode_becomes_rgb(tmp_path: Path, mode: str, color: object, suffix: str) -> None:
    path = save(Image.new(mode, (12, 7), color), tmp_path / f"image{suffix}")  # type: ignore[arg-type]
    prepared = prepare_image(path)
    assert (prepared.width, prepared.height) == (12, 7)
    assert_clean_jpeg(prepared.data)


def test_heic(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "photo.heic"
    try:
        pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 30, 30))).save(path, quality=90)
    except Exception as exc:  # pragma: no cover - a pillow-heif build without an encoder
        pytest.skip(f"pillow-heif cannot write HEIC here: {exc}")
    prepared = prepare_image(path, max_side=32)
    assert (prepared.width, prepared.height) == (32, 24)
    assert_clean_jpeg(prepared.data)
    assert near(decode(prepared).getpixel((16, 12)), (200, 30, 30), 50)  # type: ignore[arg-type]


def test_heic_without_pillow_heif_gives_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails
    monkeypatch.setattr(images, "_heif_state", {})
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if "HEI" not in name.upper()])
    path = tmp_path / "photo.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(ImageError, match=r"pip install 'ethan-geo\[heic\]'"):
        prepare_image(path)


# --------------------------------------------------------------------------- failures


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg.*empty"):
        prepare_image(path)
    with pytest.raises(ImageError, match="empty"):
        prepare_image(b"")


def test_truncated_jpeg_raises(tmp_path: Path) -> None:
    noisy = Image.effect_noise((400, 300), 60).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg.*truncated"):
        prepare_image(path)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageError, match=r"fake\.jpg.*not an image"):
        prepare_image(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.jpg.*no such file"):
        prepare_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        prepare_image(tmp_path)


def test_decompression_bomb_is_an_error_not_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(30000, 30000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match=r"bomb\.png.*(pixels|bomb)"):
            prepare_image(path)


def test_own_pixel_limit_without_warning(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"  # over MAX_PIXELS, under Pillow's hard limit
    path.write_bytes(png_header(11000, 10000))
    assert images.MAX_PIXELS < 11000 * 10000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="decompression bomb"):
            prepare_image(path)


def test_pixel_limit_is_a_module_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(Image.new("RGB", (40, 40)), tmp_path / "small.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="40x40"):
        prepare_image(path)


def test_corrupt_png_body(tmp_path: Path) -> None:
    good = io.BytesIO()
    Image.effect_noise((64, 64), 50).save(good, "PNG")
    data = bytearray(good.getvalue())
    data[60:80] = b"\x00" * 20  # inside the compressed pixel data
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"broken\.png"):
        prepare_image(path)


# --------------------------------------------------------------------------- real photos


def test_real_corpus() -> None:
    folder = CORPUS / "images"
    if not folder.is_dir():
        pytest.skip(f"corpus not available at {folder}")
    paths = sorted(folder.glob("*.jpg"))
    assert len(paths) >= 200
    for path in paths:
        with Image.open(path) as original:
            size = original.size
        prepared = prepare_image(path)
        assert (prepared.width, prepared.height) == size, path
        assert_clean_jpeg(prepared.data)
        small = prepare_image(path, max_side=320)
        assert max(small.width, small.height) == 320, path
        assert decode(small).size == (small.width, small.height)


# --------------------------------------------------------------------------- hashing


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 9000  # more than one read chunk
    path.write_bytes(payload)
    assert file_sha256(path) == hashlib.sha256(payload).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(payload).hexdigest()
    with pytest.raises(ImageError, match="missing"):
        file_sha256(tmp_path / "missing.bin")


# --------------------------------------------------------------------------- discovery


def test_image_extensions() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert {".heic", ".heif"} <= IMAGE_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    files = [
        "b.jpg",
        "a.PNG",
        "notes.txt",
        "data.csv",
        ".hidden.jpg",
        ".cache/inside.jpg",
        "sub/c.webp",
        "sub/deeper/d.HEIC",
        "sub/deeper/readme.md",
        "z.JPEG",
        "ünïcødé/照片.jpeg",
        "ünïcødé/ñ.tif",
    ]
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "sub" / "deeper" / "up").symlink_to(root / "sub", target_is_directory=True)
    (root / "broken.jpg").symlink_to(root / "does-not-exist.jpg")
    return root


def test_iter_image_files_walks_sorted_skipping_hidden_and_loops(tree: Path) -> None:
    found = list(iter_image_files([tree]))
    assert [p.relative_to(tree).as_posix() for p in found] == [
        "a.PNG",
        "b.jpg",
        "sub/c.webp",
        "sub/deeper/d.HEIC",
        "z.JPEG",
        "ünïcødé/ñ.tif",
        "ünïcødé/照片.jpeg",
    ]


def test_iter_image_files_each_file_once(tree: Path) -> None:
    found = list(iter_image_files([tree / "b.jpg", tree, str(tree), tree / "sub"]))
    assert found[0] == tree / "b.jpg"
    assert len(found) == len(set(found)) == 7
    assert sum(1 for p in found if p.name == "b.jpg") == 1


def test_iter_image_files_direct_files_as_given(tree: Path) -> None:
    odd = tree / "notes.txt"
    hidden = tree / ".hidden.jpg"
    assert list(iter_image_files([odd, str(hidden)])) == [odd, hidden]


def test_iter_image_files_missing_path(tree: Path) -> None:
    missing = tree / "nowhere"
    with pytest.raises(ImageError, match="nowhere"):
        list(iter_image_files([tree, missing]))
    with pytest.raises(ImageError, match=r"broken\.jpg"):
        list(iter_image_files([tree / "broken.jpg"]))


def test_iter_image_files_is_lazy(tree: Path) -> None:
    iterator = iter_image_files([tree, tree / "missing"])
    assert next(iterator).name == "a.PNG"  # nothing raised until the bad path is reached
