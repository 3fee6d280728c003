"""The embedded default model and ``ethan models``: offline it names the files it needs and
the other ways on; pointed at local files it runs end to end on the real llama.cpp engine;
presets download once from a real local Hub server, with a size notice, then are reused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ethan import Geolocator, Prediction, Status
from ethan.backends.llama_download import PresetUnavailableError, download_preset
from ethan.backends.llama_presets import PRESETS, models_dir
from ethan.defaults import (
    DEFAULT_PRESET,
    LOCAL_INSTALL,
    DefaultModelUnavailableError,
    default_applies,
    default_backend,
)
from ethan.errors import ConfigError
from tests.conftest import STREETVIEW
from tests.hub_server import HubServer
from tests.pty_run import run_in_pty
from tests.tiny_mmproj import build_tiny_mmproj, gemma_270m

DEFAULT = PRESETS[DEFAULT_PRESET]
PHOTO = sorted((STREETVIEW / "images").iterdir())[0]


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=300, force_terminal=False), buffer


def _ethan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ethan", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400", **env},
        timeout=300,
        check=False,
    )


def _hub_files(preset_name: str = DEFAULT_PRESET) -> dict[str, bytes]:
    preset = PRESETS[preset_name]
    return {
        f"{preset.repo}/{preset.model_file}": b"GGUF" + bytes(range(256)) * 800,
        f"{preset.repo}/{preset.mmproj_file}": b"GGUF" + bytes(range(256)) * 400,
    }


@pytest.mark.parametrize(
    ("backend", "base_url", "api_key", "env", "expected"),
    [
        (None, None, None, {}, True),
        (None, None, None, {"OPENAI_API_KEY": " "}, True),
        ("openai", None, None, {}, False),
        ("llama-cpp", None, None, {}, False),
        (None, "http://127.0.0.1:8000/v1", None, {}, False),
        (None, None, "sk-x", {}, False),
        (None, None, None, {"OPENAI_API_KEY": "sk-x"}, False),
        (None, None, None, {"OPENAI_BASE_URL": "http://h/v1"}, False),
    ],
)
def test_the_default_applies_only_with_nothing_chosen(
    backend: str | None, base_url: str | None, api_key: str | None, env: dict[str, str],
    expected: bool,
) -> None:  # fmt: skip
    assert default_applies(backend, base_url=base_url, api_key=api_key, environ=env) is expected


def test_offline_the_error_names_the_files_the_install_and_the_other_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("ETHAN_DEFAULT_MODEL", raising=False)
    console, out = _console()
    with pytest.raises(DefaultModelUnavailableError) as info:
        default_backend(console=console)
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert info.value.files == [DEFAULT.model_file, DEFAULT.mmproj_file]
    needles = [DEFAULT.model_file, DEFAULT.mmproj_file, DEFAULT.repo, LOCAL_INSTALL]
    needles += ["HF_HUB_OFFLINE", "OPENAI_API_KEY", "--base-url", "ETHAN_DEFAULT_MODEL"]
    for needle in needles:
        assert needle in message, needle
    assert not list(models_dir().rglob("*.gguf")), "nothing may be downloaded"
    assert "using the local model" not in out.getvalue()


def test_without_the_local_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    with pytest.raises(DefaultModelUnavailableError) as info:
        default_backend(console=_console()[0])
    message = str(info.value)
    assert "'local' extra (llama-cpp-python) is not installed" in message
    assert LOCAL_INSTALL in message and DEFAULT.model_file in message


def test_a_model_file_needs_its_projector(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("ETHAN_DEFAULT_MODEL", str(gemma_270m()))
    monkeypatch.delenv("ETHAN_DEFAULT_MMPROJ", raising=False)
    with pytest.raises(ConfigError, match="ETHAN_DEFAULT_MMPROJ"):
        default_backend(console=_console()[0])


def test_pointed_at_local_files_the_default_locates_a_photo_on_llama_cpp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ethan-geo[local])")
    projector = build_tiny_mmproj(tmp_path / "tiny-mmproj.gguf")
    monkeypatch.setenv("ETHAN_DEFAULT_MODEL", str(gemma_270m()))
    monkeypatch.setenv("ETHAN_DEFAULT_MMPROJ", str(projector))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network is needed for local files
    console, out = _console()
    backend = default_backend(console=console, n_ctx=2048, max_string=60)
    said = " ".join(out.getvalue().split())
    assert "using the local model gemma-3-270m-q4_k_m.gguf through llama.cpp" in said
    assert str(projector) in said
    geo = Geolocator(backend, cache=False, max_tokens=280, max_side=256, seed=3)
    try:
        prediction = geo.locate(PHOTO)
    finally:
        geo.close()
    assert Prediction.model_validate_json(prediction.to_json_line()) == prediction
    assert prediction.image == str(PHOTO)
    assert prediction.model == "gemma-3-270m-q4_k_m.gguf"
    assert prediction.status in (Status.OK, Status.UNPARSED), prediction.message
    assert prediction.usage.prompt_tokens > 300 and prediction.raw
    if prediction.status is Status.OK:
        assert prediction.lat is not None and prediction.hypotheses
    else:
        assert prediction.lat is None and prediction.message


PULL_TWICE = """
import sys
from ethan.backends.llama_download import download_preset
from ethan.backends.llama_presets import PRESETS
for _ in range(2):
    print(*download_preset(PRESETS[sys.argv[1]]))
"""


def test_a_preset_downloads_once_with_its_size_then_is_reused(tmp_path: Path) -> None:
    files = _hub_files()
    cache = tmp_path / "cache"
    with HubServer(files) as hub:
        run = subprocess.run(
            [sys.executable, "-c", PULL_TWICE, DEFAULT_PRESET],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_ENDPOINT": hub.url, "ETHAN_CACHE_DIR": str(cache)},
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert hub.gets() == 2, "each file once; the second call downloads nothing"
    first, again = run.stdout.splitlines()
    assert first == again
    model, mmproj = (Path(p) for p in first.split())
    assert model.name == DEFAULT.model_file and mmproj.name == DEFAULT.mmproj_file
    assert model.read_bytes() == files[f"{DEFAULT.repo}/{DEFAULT.model_file}"]
    assert cache / "models" in model.parents
    total = sum(len(b) for b in files.values())
    assert f"downloading {DEFAULT_PRESET} once: {total / 1000:,.0f} KB" in run.stderr
    assert run.stderr.count("downloading") == 1
    assert DEFAULT.model_file in run.stderr and "100%" not in run.stderr


def test_an_unreachable_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PresetUnavailableError) as info:
        download_preset(DEFAULT, console=_console()[0])
    assert info.value.files == [DEFAULT.model_file, DEFAULT.mmproj_file]
    assert info.value.reason == "HF_HUB_OFFLINE is set"
    assert DEFAULT.repo in str(info.value) and "--model PATH.gguf" in str(info.value)


def test_a_hub_without_the_files_is_a_clear_error(tmp_path: Path) -> None:
    with HubServer({}) as hub:  # knows no file: 404
        run = _ethan(
            "models", "pull", "moondream2",
            env={"HF_ENDPOINT": hub.url, "ETHAN_CACHE_DIR": str(tmp_path / "cache")},
        )  # fmt: skip
    assert run.returncode == 2
    flat = " ".join(run.stderr.split())
    assert "could not be downloaded" in flat and PRESETS["moondream2"].model_file in flat


def test_models_lists_the_presets_and_what_is_downloaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    preset = PRESETS["moondream2"]
    repo = cache / "models" / ("models--" + preset.repo.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for name in (preset.model_file, preset.mmproj_file):
        (snapshot / name).write_bytes(b"GGUF" * 500)
    run = _ethan("models", env={"ETHAN_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if "│" in line}
    assert set(rows) == {*PRESETS, DEFAULT_PRESET + " (default)"} - {DEFAULT_PRESET}
    cells = [c.strip() for c in rows["moondream2"].split("│")]
    assert cells[3:5] == ["4 KB", "yes"] and cells[5] == str(snapshot)
    assert [c.strip() for c in rows[DEFAULT_PRESET + " (default)"].split("│")][3:5] == [
        "~3.3 GB",
        "no",
    ]
    assert "ethan models pull NAME" in run.stderr


def test_models_pull_fetches_with_progress_then_reuses(tmp_path: Path) -> None:
    env = {"ETHAN_CACHE_DIR": str(tmp_path / "cache")}
    with HubServer(_hub_files("gemma-3-4b"), chunk_delay=0.02) as hub:
        env["HF_ENDPOINT"] = hub.url
        first = _ethan("models", "pull", "gemma-3-4b", env=env)
        assert first.returncode == 0, first.stderr
        assert hub.gets() == 2
        rm_cache = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() or p.is_symlink()]
        for path in rm_cache:
            path.unlink()
        on_screen = run_in_pty(
            [sys.executable, "-m", "ethan", "models", "pull", "gemma-3-4b"],
            env={**os.environ, **env},
        )
        assert on_screen.returncode == 0, on_screen.text
        gets = hub.gets()
        second = _ethan("models", "pull", "gemma-3-4b", env=env)
        assert second.returncode == 0, second.stderr
        assert hub.gets() == gets == 4, "downloaded again after the cache was emptied, once"
    preset = PRESETS["gemma-3-4b"]
    total = sum(len(b) for b in _hub_files("gemma-3-4b").values())
    assert f"downloading gemma-3-4b once: {total / 1000:,.0f} KB" in first.stderr
    screen = on_screen.text
    assert "downloading gemma-3-4b once" in screen
    bars = [line for line in screen.splitlines() if preset.model_file in line and "kB" in line]
    assert bars and "204.8/204.8 kB" in bars[-1], screen  # the bar, drawn to its end
    assert "\x1b[" in on_screen.raw, "a live terminal display"
    assert "downloading" not in second.stderr
    paths = [Path(line) for line in first.stdout.split()]
    assert [p.name for p in paths] == [preset.model_file, preset.mmproj_file]
    assert all(p.is_file() for p in paths) and second.stdout == first.stdout


def test_models_pull_offline_and_unknown_exit_2(tmp_path: Path) -> None:
    env = {"ETHAN_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    offline = _ethan("models", "pull", DEFAULT_PRESET, env=env)
    assert offline.returncode == 2
    flat = " ".join(offline.stderr.split())
    assert DEFAULT.model_file in flat and DEFAULT.mmproj_file in flat and "Traceback" not in flat
    unknown = _ethan("models", "pull", "gpt-9", env=env)
    assert unknown.returncode == 2 and "unknown preset 'gpt-9'" in unknown.stderr
