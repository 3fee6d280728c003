"""Read photos, normalise them and strip every byte of metadata before a model sees them.

Whatever comes in (JPEG with GPS EXIF, 16-bit PNG, CMYK, animated GIF, HEIC...), what goes
out is a fresh baseline JPEG in RGB, oriented upright, no larger than asked, carrying no EXIF,
XMP, ICC profile or comment: a photo's own metadata must never leak its location.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ethan.backends.base import ImagePart
from ethan.errors import ImageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
MAX_PIXELS = 100_000_000
"""Images declaring more pixels than this are refused (decompression-bomb guard)."""

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_HEIC_HINT = "HEIC/HEIF photos need pillow-heif: pip install 'ethan-geo[heic]'"
_heif_state: dict[str, bool] = {}
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class PreparedImage:
    """A cleaned, re-encoded image ready to send to a model."""

    data: bytes
    sha256: str
    width: int
    height: int
    mime: str = "image/jpeg"

    def part(self) -> ImagePart:
        return ImagePart(data=self.data, mime=self.mime, sha256=self.sha256)


def prepare_image(
    source: str | Path | bytes, *, max_side: int = 1024, quality: int = 90
) -> PreparedImage:
    """Decode ``source`` (a path or the file's bytes) into a clean RGB JPEG.

    Raises :class:`ImageError` naming the image and the reason for anything unreadable.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, got {quality}")
    label = "<bytes>" if isinstance(source, bytes) else path_label(source)
    try:
        if isinstance(source, bytes):
            image = _decode(io.BytesIO(source), label, max_side)
        else:
            with open(source, "rb") as handle:
                image = _decode(handle, label, max_side)
        image = _downscale(image, max_side)
        data = _encode(image, quality)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{label}: permission denied") from None
    except Exception as exc:  # Pillow raises many kinds; none may escape unwrapped
        if isinstance(exc, OSError) and "truncated" in str(exc).lower():
            reason = f"truncated file, the image data ends early ({_reason(exc)})"
            raise ImageError(f"{label}: {reason}") from exc
        raise ImageError(f"{label}: cannot read image: {_reason(exc)}") from exc
    leaked = jpeg_metadata_segments(data)
    if leaked:  # pragma: no cover - a safety net; _encode passes no metadata
        raise ImageError(f"{label}: metadata survived re-encoding: {', '.join(leaked)}")
    width, height = image.size
    return PreparedImage(data, hashlib.sha256(data).hexdigest(), width, height)


def path_label(path: str | os.PathLike[str]) -> str:
    """A path as text that is always valid UTF-8, for messages and result files.

    A file name that is not valid UTF-8 (``b"caf\\xe9.jpg"``, which Python holds as
    ``"caf\\udce9.jpg"``) cannot be written to JSON or a UTF-8 file as it is; its undecodable
    bytes are shown as ``\\xNN`` escapes instead (``"caf\\\\xe9.jpg"``). Other names are
    returned unchanged.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return os.fsencode(text).decode("utf-8", "backslashreplace")
        except UnicodeError:  # a surrogate that did not come from a file name
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _decode(handle: IO[bytes], label: str, max_side: int) -> Image.Image:
    head = handle.read(32)
    if not head:
        raise ImageError(f"{label}: empty file (0 bytes)")
    handle.seek(0)
    is_heif = head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS
    if is_heif:
        _register_heif()
    try:
        with warnings.catch_warnings():
            # our own limit below replaces Pillow's warning; its hard error still applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(handle)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{label}: refused, too many pixels ({exc})") from None
    except UnidentifiedImageError:
        if is_heif and not _heif_state.get("available"):
            raise ImageError(f"{label}: cannot read image; {_HEIC_HINT}") from None
        raise ImageError(f"{label}: not an image, or a format Pillow cannot read") from None
    width, height = opened.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{label}: refused, too many pixels: {width}x{height} is more than "
            f"{MAX_PIXELS:,} (possible decompression bomb)"
        )
    if opened.format == "JPEG":
        opened.draft("RGB", (max_side, max_side))  # decode big JPEGs at 1/2, 1/4 or 1/8 scale
    opened.load()  # first frame only; truncated data raises here
    icc = opened.info.get("icc_profile")
    return _to_rgb(_upright(opened), icc if isinstance(icc, bytes) else None)


def _register_heif() -> None:
    if "available" in _heif_state:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        _heif_state["available"] = False
        return
    register_heif_opener()
    _heif_state["available"] = True


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # corrupt EXIF must not cost us the photo; keep it as stored
        return image


def _to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    mode = image.mode
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode.startswith("F"):
        return _to_8bit(image).convert("RGB")
    if icc is not None and mode in ("RGB", "CMYK"):
        converted = _apply_icc(image, icc)
        if converted is not None:
            return converted
    return image if mode == "RGB" else image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Map a 16/32-bit integer or float greyscale image onto 0..255."""
    if image.mode != "F":
        image = image.convert("I")
    low, high = cast("tuple[float, float]", image.getextrema())  # one band: (min, max)
    if image.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    elif image.mode == "I" and low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    elif image.mode == "I" and low >= 0 and high <= 65535:
        scale, offset = 1 / 257, 0.0
    else:  # arbitrary range: stretch it
        span = (high - low) or 1.0
        scale, offset = 255.0 / span, -low * 255.0 / span
    return image.point(lambda value: value * scale + offset).convert("L")


def _apply_icc(image: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert colours to sRGB through the embedded profile; None if it cannot be used."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode == "RGB" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
    except Exception:
        return None
    return converted


def _downscale(image: Image.Image, max_side: int) -> Image.Image:
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Image.Image, quality: int) -> bytes:
    # a fresh image has empty ``info``: Pillow would otherwise carry a JPEG comment over
    clean = Image.frombytes("RGB", image.size, image.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def jpeg_metadata_segments(data: bytes) -> list[str]:
    """Names of the JPEG header segments that can carry metadata (APP1..APP15, COM)."""
    found: list[str] = []
    pos = 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the header is over
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xE1 <= marker <= 0xEF:
            found.append(f"APP{marker - 0xE0}")
        elif marker == 0xFE:
            found.append("COM")
        pos += 2 + length
    return found


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise ImageError(f"{path_label(path)}: cannot read file: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def iter_image_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield image files: files named directly as given, folders walked in sorted order.

    Inside folders only :data:`IMAGE_EXTENSIONS` count, hidden entries are skipped, and a
    directory reached twice (symlink loops, aliases) is walked once. Each file comes once.
    """
    seen_files: set[str] = set()
    seen_dirs: set[str] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from _walk(path, seen_dirs, seen_files)
        elif path.exists():
            real = os.path.realpath(path)
            if real not in seen_files:
                seen_files.add(real)
                yield path
        else:
            raise ImageError(f"{path_label(path)}: no such file or directory")


def _walk(folder: Path, seen_dirs: set[str], seen_files: set[str]) -> Iterator[Path]:
    real = os.path.realpath(folder)
    if real in seen_dirs:
        return
    seen_dirs.add(real)
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as exc:
        raise ImageError(
            f"{path_label(folder)}: cannot list folder: {exc.strerror or exc}"
        ) from exc
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        if path.is_dir():
            yield from _walk(path, seen_dirs, seen_files)
        elif path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            real_file = os.path.realpath(path)
            if real_file not in seen_files:
                seen_files.add(real_file)
                yield path
