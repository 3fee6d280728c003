"""The built wheel carries the prompts and few-shot sets, and finds them once installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_prompts_and_fewshot(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = tmp_path.glob("ethan_geo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "prompts").glob("*.j2"):
        assert f"ethan/_data/prompts/{template.name}" in names
    for exemplars in (ROOT / "fewshot").iterdir():
        assert f"ethan/_data/fewshot/{exemplars.name}" in names
    assert "ethan/cli/__init__.py" in names
    assert not any(name.startswith(("tests/", "ethan/_data/tests")) for name in names)

    # Unpacked on its own (no source tree beside it), the package finds its data there.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = subprocess.run(
        [sys.executable, "-c", "import ethan.resources as r; print(r.data_dir('prompts'))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()) == site / "ethan" / "_data" / "prompts"
