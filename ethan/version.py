"""The installed version and the distribution name, without importing the rest of ethan."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: The name on PyPI (the import name and the command are ``ethan``).
DISTRIBUTION = "ethan-geo"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def install_hint(extra: str | None = None) -> str:
    """The pip command that installs ethan (with an extra)."""
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"
