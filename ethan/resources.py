"""Where the data shipped with ethan (prompt templates, few-shot sets) lives.

A wheel carries the top-level ``prompts/`` and ``fewshot/`` folders inside the package as
``ethan/_data/<kind>``; an editable or source checkout has them next to the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ethan.errors import ConfigError

DataKind = Literal["prompts", "fewshot"]


def data_dir(kind: DataKind) -> Path:
    """The folder holding the shipped ``kind`` files, installed copy first."""
    package = Path(__file__).resolve().parent  # the folder of ethan/__init__.py
    installed = package / "_data" / kind
    if installed.is_dir():
        return installed
    source = package.parent / kind
    if source.is_dir():
        return source
    raise ConfigError(
        f"ethan's {kind!r} data folder is missing: looked in {installed} and {source}; "
        "reinstall the package"
    )
