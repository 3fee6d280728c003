"""The ``ethan`` command: a thin layer over the public Python API.

Each sub-command lives in its own module and registers itself on :data:`app`.
"""

from ethan.cli import baseline, batch, compare, evaluate, locate, prompts  # noqa: F401  (registers)
from ethan.cli.app import app

__all__ = ["app"]
