"""Start-up cost of the ``ethan`` command against its floor, typer and rich.

Runs, alternating so that a busy machine hits both sides alike: ``ethan --version`` (the
console script beside this Python, else ``python -m ethan``), ``ethan --help``, and
``python -c "import typer, rich.console"``. Prints each side's median wall time over the
rounds and the ratios to the floor (goal: ``--version`` <= 2), plus the heavy modules that
``ethan --version`` imported, if any.

    python eval/bench/startup.py              # 15 rounds
    python eval/bench/startup.py --rounds 31
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: modules that must not load before a command runs
HEAVY = ("openai", "numpy", "PIL", "pydantic", "httpx", "jinja2", "geopy", "shapely",
         "ethan.pipeline", "ethan.geocode", "ethan.types")  # fmt: skip


def ethan_command() -> list[str]:
    exe = shutil.which("ethan", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ethan"]


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def heavy_imports(env: dict[str, str]) -> list[str]:
    probe = (
        "import contextlib, io, sys; sys.argv = ['ethan', '--version']\n"
        "from ethan.cli import app\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        app(prog_name='ethan')\n    except SystemExit:\n        pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True)
    return out.stdout.decode().split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    sides = {
        "floor: import typer, rich.console": [sys.executable, "-c", "import typer, rich.console"],
        "ethan --version": [*ethan_command(), "--version"],
        "ethan --help": [*ethan_command(), "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for cmd in sides.values():  # warm the file cache once
        wall(cmd, env)
    for _ in range(args.rounds):
        for name, cmd in sides.items():
            times[name].append(wall(cmd, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["floor: import typer, rich.console"]
    for name, median in medians.items():
        print(f"{name:38s} median {median * 1000:7.1f} ms  ratio {median / floor:5.2f}")
    print(f"ratio ethan --version / floor: {medians['ethan --version'] / floor:.2f} (goal <= 2)")
    heavy = heavy_imports(env)
    print("heavy modules imported by ethan --version:", " ".join(heavy) or "none")


if __name__ == "__main__":
    main()
