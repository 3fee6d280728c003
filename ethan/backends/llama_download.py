"""Fetching a preset's files from the Hugging Face Hub into the user cache, with a rich
progress bar and a one-line notice of the download size, and telling what is already there
(``ethan models``) without touching the network.

The cache is huggingface_hub's own layout under ``<cache>/models``, so a file is downloaded
once and every later run finds it offline.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ethan.backends.llama_presets import Preset, models_dir
from ethan.errors import ConfigError, MissingDependencyError
from ethan.version import DISTRIBUTION as DIST_NAME

#: Approximate download sizes (model + projector, MB) from the Hub, for ``ethan models``
#: before anything is downloaded; the notice printed before a download uses the Hub's
#: exact sizes.
APPROX_MB: dict[str, int] = {
    "llava-1.5-7b": 4700,
    "llava-1.5-13b": 8500,
    "llava-1.6-mistral-7b": 5000,
    "llava-1.6-vicuna-7b": 4700,
    "llava-1.6-vicuna-13b": 8500,
    "qwen2.5-vl-3b": 3300,
    "qwen2.5-vl-7b": 6000,
    "minicpm-v-2.6": 5700,
    "moondream2": 3700,
    "gemma-3-4b": 3300,
}


class PresetUnavailableError(ConfigError):
    """A preset's files are not in the cache and cannot be downloaded now (offline, no
    huggingface_hub, the Hub unreachable). ``files`` names what is missing, ``reason`` why
    it cannot be fetched."""

    def __init__(self, message: str, *, preset: Preset, files: list[str], reason: str) -> None:
        super().__init__(message)
        self.preset = preset
        self.files = files
        self.reason = reason


@dataclass(frozen=True)
class CachedFile:
    name: str
    path: Path | None  # None: not downloaded

    @property
    def size(self) -> int | None:
        return self.path.stat().st_size if self.path is not None else None


@dataclass(frozen=True)
class PresetState:
    """What the cache holds of one preset."""

    preset: Preset
    files: tuple[CachedFile, CachedFile]

    @property
    def downloaded(self) -> bool:
        return all(f.path is not None for f in self.files)

    @property
    def size(self) -> int | None:
        """Bytes on disk once downloaded, else None."""
        sizes = [f.size for f in self.files]
        return sum(s for s in sizes if s is not None) if self.downloaded else None

    @property
    def folder(self) -> Path:
        """The folder holding (or that will hold) the files."""
        present = [f.path for f in self.files if f.path is not None]
        if present:
            return present[0].parent
        return models_dir() / ("models--" + self.preset.repo.replace("/", "--"))


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:
        raise MissingDependencyError(
            "local model presets are downloaded with huggingface_hub, which is not installed; "
            f"install it with: pip install '{DIST_NAME}[local]' "
            "(or pass local files: --model PATH.gguf --mmproj PATH.gguf)"
        ) from exc
    return huggingface_hub


def cached_path(preset: Preset, file_name: str) -> Path | None:
    """The file in the cache, or None; never touches the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(preset.repo, file_name, cache_dir=str(models_dir()))
    return Path(found) if isinstance(found, str) else None


def preset_state(preset: Preset) -> PresetState:
    model, mmproj = (
        CachedFile(name, cached_path(preset, name))
        for name in (preset.model_file, preset.mmproj_file)
    )
    return PresetState(preset, (model, mmproj))


def human_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:,.0f} {unit}" if unit in ("B", "KB") else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download_preset(preset: Preset, *, console: Console | None = None) -> tuple[Path, Path]:
    """The preset's model and projector files, downloading what the cache lacks.

    Before downloading it prints one line with the size and where the files go, then a
    rich progress bar per file on ``console`` (standard error by default). Raises
    :class:`PresetUnavailableError` when a missing file cannot be fetched.
    """
    state = preset_state(preset)
    missing = [f.name for f in state.files if f.path is None]
    if not missing:
        return state.files[0].path, state.files[1].path  # type: ignore[return-value]
    if hub_offline():
        raise _unavailable(preset, missing, "HF_HUB_OFFLINE is set")
    hub = _hub()
    console = console or Console(stderr=True)
    try:
        sizes = [_remote_size(hub, preset, name) for name in missing]
    except Exception as exc:  # offline, DNS, HTTP errors: all mean "cannot download now"
        raise _unavailable(preset, missing, _why(exc)) from None
    known = [s for s in sizes if s is not None]
    total = human_size(sum(known)) if len(known) == len(sizes) else "size unknown"
    console.print(
        f"downloading {preset.name} once: {total} ({', '.join(missing)}) from the Hugging "
        f"Face repository {preset.repo} into {models_dir()}",
        highlight=False,
        soft_wrap=True,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        for name in missing:
            try:
                _download(hub, preset, name, progress)
            except Exception as exc:
                raise _unavailable(preset, missing, _why(exc)) from None
    state = preset_state(preset)
    model, mmproj = state.files
    if model.path is None or mmproj.path is None:  # pragma: no cover - the Hub lied
        raise _unavailable(preset, missing, "the files did not reach the cache")
    return model.path, mmproj.path


def _remote_size(hub: Any, preset: Preset, name: str) -> int | None:
    url = hub.hf_hub_url(preset.repo, name)
    size: int | None = hub.get_hf_file_metadata(url).size
    return size


def _download(hub: Any, preset: Preset, name: str, progress: Progress) -> Path:
    kwargs: dict[str, Any] = {"cache_dir": str(models_dir())}
    if "tqdm_class" in inspect.signature(hub.hf_hub_download).parameters:
        kwargs["tqdm_class"] = _rich_bar(progress, name)
    return Path(hub.hf_hub_download(preset.repo, name, **kwargs))


def _rich_bar(progress: Progress, name: str) -> type:
    """A tqdm class for huggingface_hub that draws on a rich progress bar instead."""
    from huggingface_hub.utils.tqdm import tqdm as hub_tqdm

    class RichBar(hub_tqdm):  # type: ignore[misc, unused-ignore]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # tqdm draws nothing; rich does
            super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call, unused-ignore]
            self._task = progress.add_task(
                name, total=kwargs.get("total"), completed=kwargs.get("initial") or 0
            )

        def update(self, n: float | None = 1) -> bool | None:
            if n:
                progress.advance(self._task, n)
            return None

    return RichBar


def _why(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:200]


def _unavailable(preset: Preset, missing: list[str], why: str) -> PresetUnavailableError:
    return PresetUnavailableError(
        f"model preset {preset.name!r} needs {' and '.join(missing)} from the Hugging Face "
        f"repository {preset.repo}, which are not in the cache ({models_dir()}) and could not "
        f"be downloaded ({why}). Either connect once to download {preset.model_file} and "
        f"{preset.mmproj_file}, or pass files you already have: --model PATH.gguf "
        "--mmproj PATH.gguf",
        preset=preset,
        files=missing,
        reason=why,
    )


def fetch_preset(preset: Preset) -> tuple[Path, Path]:
    """Local paths of a preset's model and projector, downloading what is missing.

    Files already in the cache are used without touching the network; a download says
    its size first and shows a progress bar.
    """
    return download_preset(preset)
