"""Where ethan keeps its files: a user cache dir (response cache, built indexes).

``ETHAN_CACHE_DIR`` overrides the platform default; tests point it at a temp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def user_cache_dir() -> Path:
    """The user cache folder, created on first use."""
    override = os.environ.get("ETHAN_CACHE_DIR")
    path = Path(override) if override else Path(platformdirs.user_cache_dir("ethan"))
    path.mkdir(parents=True, exist_ok=True)
    return path
