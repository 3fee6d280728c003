"""A fast start: ``import ethan``, ``ethan --version`` and ``ethan --help`` load no heavy
module; every public name and every command still loads when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ethan
from ethan.cli.app import lazy_commands, load_command

HEAVY = ("openai", "numpy", "PIL", "pydantic", "httpx", "jinja2", "geopy", "shapely",
         "ethan.pipeline", "ethan.geocode", "ethan.types", "ethan.backends.base")  # fmt: skip


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(run.stdout.split())


def _cli(*args: str) -> str:
    return (
        "import contextlib, io\n"
        "from ethan.cli import app\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        app({list(args)!r}, prog_name='ethan')\n"
        "    except SystemExit:\n"
        "        pass\n"
    )


@pytest.mark.parametrize(
    "code", ["import ethan", _cli("--version"), _cli("--help")], ids=["import", "version", "help"]
)
def test_nothing_heavy_loads_before_a_command_runs(code: str) -> None:
    loaded = _loaded_after(code)
    assert "ethan" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_loads_its_modules_when_it_runs() -> None:
    loaded = _loaded_after(_cli("prompts", "list"))
    assert "ethan.prompts" in loaded and "jinja2" in loaded


def test_every_public_name_resolves_lazily() -> None:
    for name in ethan.__all__:
        assert getattr(ethan, name) is not None, name
    assert set(ethan.__all__) <= set(dir(ethan))
    assert ethan.Geolocator.__module__ == "ethan.pipeline"
    assert callable(ethan.compare) and callable(ethan.reverse)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = ethan.nope  # type: ignore[attr-defined]


def test_the_lazy_help_lines_are_the_commands_own() -> None:
    """``ethan --help`` lists each command from the table; the table may not drift."""
    for name, (_module, line) in lazy_commands().items():
        command = load_command(name)
        assert command.name == name
        own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert own == line, (name, own, line)
