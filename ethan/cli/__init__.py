"""The ``ethan`` command: a thin layer over the public Python API.

Each sub-command lives in its own module, registers itself on :data:`app` and is declared
here with its one-line help; its module is imported only when the command is used.
"""

from ethan.cli.app import app, lazy_command

lazy_command(
    "locate",
    "ethan.cli.locate",
    "Locate photos; write one JSON line per image (and FILE.run.yaml beside --out).",
)
lazy_command(
    "eval",
    "ethan.cli.evaluate",
    "Evaluate on a benchmark: run.yaml, predictions.jsonl, metrics.json, scored.csv, "
    "report.md, plots.",
)
lazy_command(
    "compare",
    "ethan.cli.compare",
    "Compare systems on their shared images: metrics, paired bootstrap, win rates.",
)
lazy_command("prompts", "ethan.cli.prompts", "List and render the prompt templates.")
lazy_command(
    "baseline",
    "ethan.cli.baseline",
    "Classifier baselines (geocells, haversine smoothing, GeoCLIP) in the same harness.",
)
lazy_command("models", "ethan.cli.models", "List, and download, the local model presets.")
lazy_command(
    "gallery", "ethan.cli.gallery", "Retrieval galleries: geo-tagged photos embedded for --rag."
)
lazy_command(
    "batch",
    "ethan.cli.batch",
    "Manage OpenAI Batch API runs: list what is in flight, show one, cancel.",
)

__all__ = ["app"]
