"""The ``ethan`` command: a thin layer over the public Python API.

Each sub-command lives in its own module and registers itself on :data:`app`.
"""

# the sub-commands register themselves on import
from ethan.cli import baseline, compare, evaluate, gallery, locate, prompts  # noqa: F401
from ethan.cli.app import app

__all__ = ["app"]
