"""An on-disk cache of model responses (SQLite), so that a re-run costs nothing.

Keys hash everything that changes an answer: the backend's identity (never its key), the
rendered messages (images by content hash) and the generation settings. Each write is one
SQLite transaction, so a crash leaves either the old entry or the new one; an entry that
fails to decode is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ethan.backends.base import GenerateConfig, Message, ModelOutput
from ethan.paths import user_cache_dir

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    output TEXT NOT NULL
)
"""


def cache_key(identity: dict[str, Any], messages: list[Message], config: GenerateConfig) -> str:
    payload = {
        "identity": identity,
        "messages": [m.fingerprint() for m in messages],
        "config": config.model_dump(mode="json"),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class ResponseCache:
    """A thread-safe SQLite key/value store of :class:`ModelOutput`."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else user_cache_dir() / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.warning("the response cache is damaged (%s); moved it to %s", exc, aside)
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        try:
            with db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get(self, key: str) -> ModelOutput | None:
        try:
            with self._lock:
                query = "SELECT output FROM responses WHERE key = ?"
                row = self._db.execute(query, (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            log.warning("cannot read the response cache (%s); asking the model", exc)
            return None
        if row is None:
            return None
        try:
            return ModelOutput.model_validate_json(row[0])
        except ValidationError:
            log.warning("ignoring a corrupt cache entry %s", key[:12])
            return None

    def put(self, key: str, output: ModelOutput) -> None:
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, created, output) VALUES (?, ?, ?)",
                    (key, time.time(), output.model_dump_json()),
                )
        except sqlite3.DatabaseError as exc:
            log.warning("cannot write the response cache (%s); this answer is not kept", exc)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
