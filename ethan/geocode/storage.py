"""Where the compiled gazetteer files live and how they are written (a leaf module: the
index and the country table both keep files there)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("ethan.geocode.index")


def default_cache_dir() -> Path | None:
    """Where compiled gazetteer data lives: ``$ETHAN_GAZETTEER_DIR`` (for a folder shared by
    several processes, e.g. a test session), else ``<user cache dir>/gazetteer``."""
    shared = os.environ.get("ETHAN_GAZETTEER_DIR")
    if shared:
        return Path(shared)
    from ethan.paths import user_cache_dir

    try:
        return user_cache_dir() / "gazetteer"
    except OSError:
        return None


def write_json_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it into place; a folder
    that cannot be written is skipped with a debug log line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("gazetteer index not cached at %s: %s", path, exc)
