"""One image identity for every part of ethan: resume, candidates, replay and evaluation.

An image is known by its *key*: the path as given (normalised, always valid UTF-8), the URL,
or ``sha256:<hex>`` for raw bytes. Two files called ``photo.jpg`` in different folders are
two keys. Files that name images in their own way (a paper's CSV of answers, a baseline's
predictions, a manifest) are matched against keys by :class:`KeyIndex`: an exact key first,
then the longest unambiguous run of trailing path components (``b/photo.jpg`` finds
``/data/b/photo.jpg``), then the file stem. A name that fits two images equally well
matches neither, so two images never share a recorded answer by accident.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlparse

from ethan.images import path_label
from ethan.remote import is_url

T = TypeVar("T")

#: What a caller may pass as an image: a path, a URL or the encoded bytes.
ImageInput = str | Path | bytes


def image_key(image: ImageInput) -> str:
    """The identity of an image input, as predictions files record it."""
    if isinstance(image, bytes):
        return "sha256:" + hashlib.sha256(image).hexdigest()
    if is_url(image):
        return str(image)
    text = path_label(image)
    return posixpath.normpath(text.replace(os.sep, "/")) if text else text


def display_name(key: str) -> str:
    """The last component of a key (a file name, or the URL's last segment)."""
    if key.startswith("sha256:"):
        return key[:19]
    if is_url(key):
        return posixpath.basename(urlparse(key).path) or key
    return posixpath.basename(key) or key


def _parts(key: str) -> tuple[str, ...]:
    if is_url(key):
        parsed = urlparse(key)
        key = parsed.netloc + parsed.path
    return tuple(p for p in key.replace("\\", "/").split("/") if p not in ("", "."))


class _Suffixes:
    """Path-component suffixes of stored names; a hit must end one name inside the other."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, ...], tuple[object, int] | None] = {}

    def add(self, parts: tuple[str, ...], value: object) -> None:
        for start in range(len(parts)):
            suffix = parts[start:]
            if suffix not in self._table:
                self._table[suffix] = (value, len(parts))
                continue
            current = self._table[suffix]
            if current is not None and current[0] is not value:
                self._table[suffix] = None  # two names end this way: it matches neither

    def find(self, parts: tuple[str, ...]) -> tuple[bool, object]:
        """(found, value); longest suffix first, and a name that fits two values is none."""
        for start in range(len(parts)):
            suffix = parts[start:]
            if suffix not in self._table:
                continue
            hit = self._table[suffix]
            if hit is None:
                return False, None
            value, stored_len = hit
            if start == 0 or len(parts) - start == stored_len:
                return True, value
        return False, None


def _stemmed(parts: tuple[str, ...]) -> tuple[str, ...]:
    if not parts:
        return parts
    stem = posixpath.splitext(parts[-1])[0]
    return (*parts[:-1], stem) if stem else parts


class KeyIndex(Generic[T]):
    """Values filed under image names, found again from an image's key.

    >>> index = KeyIndex({"a/photo.jpg": 1, "b/photo.jpg": 2})
    >>> index.find("/data/b/photo.jpg")
    2
    >>> index.find("photo.jpg") is None    # fits both: matches neither
    True
    """

    def __init__(self, items: Iterable[tuple[str, T]] | dict[str, T] = ()) -> None:
        self._exact: dict[str, T] = {}
        self._names = _Suffixes()
        self._stems = _Suffixes()
        pairs = items.items() if isinstance(items, dict) else items
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: T) -> None:
        """File ``value`` under ``name``; the first value for a name wins."""
        name = str(name)
        if name in self._exact:
            return
        self._exact[name] = value
        parts = _parts(name)
        self._names.add(parts, value)
        self._stems.add(_stemmed(parts), value)

    def find(self, key: str) -> T | None:
        """The value for ``key``: exact, then the longest unambiguous suffix, then the stem.

        A suffix match must end one of the two paths (``b/photo.jpg`` fits
        ``/data/b/photo.jpg``; ``/x/a/photo.jpg`` does not fit ``/y/c/photo.jpg``).
        """
        if key in self._exact:
            return self._exact[key]
        parts = _parts(key)
        found, value = self._names.find(parts)
        if not found:
            found, value = self._stems.find(_stemmed(parts))
        return value if found else None  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._exact)

    def __iter__(self) -> Iterator[str]:
        return iter(self._exact)

    def values(self) -> list[T]:
        return list(self._exact.values())
