"""The embedded default: what ethan runs when it is given no API key, no server and no
backend, so that a newcomer sees a photo located with nothing but ``pip install``.

The default is the llama.cpp preset **qwen2.5-vl-3b** (Qwen2.5-VL 3B Instruct, Q4_K_M, with
its F16 vision projector from ``ggml-org/Qwen2.5-VL-3B-Instruct-GGUF``: about 1.9 GB +
1.3 GB, so about 3.3 GB to download and 4-5 GB of memory at an 8k context). Why this one:

* it is the strongest vision model among the presets that a laptop CPU runs at a usable
  speed. Its model card reports MMMU 53.1, DocVQA 93.9, TextVQA 79.3 and MMBench 79.1;
  Gemma 3 4B, the other small preset of the same download size, reports MMMU 48.8,
  DocVQA 75.8 and TextVQA 57.8 in the Gemma 3 report. Reading signs, scripts and plates is
  the strongest clue in geolocation, and there Qwen2.5-VL leads by 20 points;
* Qwen2.5-VL 7B and MiniCPM-V 2.6 (8B) score higher but are about twice the download
  (6 GB) and twice the parameters, so about twice as slow per token on a CPU: too slow for
  a first run. LLaVA-1.5/1.6 (7B, 13B) and Moondream2 (1.9B) report lower scores on these
  benchmarks than Qwen2.5-VL 3B.

(The figures are the ones published with the models; ethan's own accuracy on a benchmark
is measured with ``ethan eval``.)

``ETHAN_DEFAULT_MODEL`` picks another preset (``gemma-3-4b``...) or a local GGUF file, with
``ETHAN_DEFAULT_MMPROJ`` for that file's projector; the arguments of :func:`default_backend`
do the same in Python.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ethan.errors import ConfigError, MissingDependencyError
from ethan.version import DISTRIBUTION as DIST_NAME

if TYPE_CHECKING:
    from rich.console import Console

    from ethan.backends.llama_cpp import LlamaCppBackend
    from ethan.backends.llama_presets import Preset

DEFAULT_PRESET = "qwen2.5-vl-3b"
MODEL_ENV = "ETHAN_DEFAULT_MODEL"
MMPROJ_ENV = "ETHAN_DEFAULT_MMPROJ"
LOCAL_INSTALL = f"pip install '{DIST_NAME}[local]'"


class DefaultModelUnavailableError(ConfigError):
    """The embedded default model cannot run here (no ``local`` extra, or its files are
    not downloaded and cannot be now). ``files`` names the files it needs."""

    def __init__(self, message: str, *, files: list[str]) -> None:
        super().__init__(message)
        self.files = files


def default_applies(
    backend: str | None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Whether a run should use the embedded default: no backend chosen, no server URL
    and no OpenAI key, neither as arguments nor in ``OPENAI_API_KEY``/``OPENAI_BASE_URL``."""
    env = os.environ if environ is None else environ
    given = (base_url, api_key, env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL"))
    return backend is None and not any(v and v.strip() for v in given)


def default_backend(
    *,
    model: str | None = None,
    mmproj: str | Path | None = None,
    console: Console | None = None,
    **options: Any,
) -> LlamaCppBackend:
    """The llama.cpp backend of the embedded default, downloading its files on first use.

    ``model``/``mmproj`` (else ``ETHAN_DEFAULT_MODEL``/``ETHAN_DEFAULT_MMPROJ``) replace the
    default preset with another preset or with local GGUF files; ``options`` go to
    :class:`~ethan.backends.llama_cpp.LlamaCppBackend` (``n_ctx``, ``threads``...). Says on
    ``console`` (standard error by default) which model it uses. Raises
    :class:`DefaultModelUnavailableError` when it cannot run here.
    """
    from rich.console import Console

    from ethan.backends.llama_presets import PRESETS

    console = console or Console(stderr=True)
    chosen = model or os.environ.get(MODEL_ENV) or DEFAULT_PRESET
    projector = mmproj or os.environ.get(MMPROJ_ENV) or None
    preset = PRESETS.get(chosen)
    needed = [preset.model_file, preset.mmproj_file] if preset else [str(chosen)]
    if projector is not None:
        needed = [needed[0], str(projector)]
    if not _installed("llama_cpp"):
        raise _unavailable(
            chosen, needed, "the 'local' extra (llama-cpp-python) is not installed", preset
        )
    if preset is not None and projector is None:
        from ethan.backends.llama_download import PresetUnavailableError, download_preset

        try:
            download_preset(preset, console=console)
        except PresetUnavailableError as exc:
            why = f"they are not downloaded and cannot be now ({exc.reason})"
            raise _unavailable(chosen, exc.files, why, preset) from None
        except MissingDependencyError:
            raise _unavailable(
                chosen, needed, "huggingface_hub (the 'local' extra) is not installed", preset
            ) from None
    elif preset is None and projector is None:
        raise ConfigError(
            f"{MODEL_ENV}={chosen} is a model file without its vision projector: set "
            f"{MMPROJ_ENV} to the projector GGUF (the model must see the photo)"
        )
    from ethan.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(str(chosen), mmproj=projector, **options)
    where = (
        f"{preset.description}, files in {Path(backend.spec.model_path).parent}"
        if preset
        else f"{backend.spec.model_path} + {backend.spec.mmproj_path}"
    )
    console.print(
        f"[bold]ethan[/bold]: no API key, --base-url or --backend given: using the local "
        f"model [bold]{backend.model}[/bold] through llama.cpp ({where})",
        highlight=False,
        soft_wrap=True,
    )
    return backend


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: blocked
        return False


def _unavailable(
    chosen: str, files: list[str], why: str, preset: Preset | None
) -> DefaultModelUnavailableError:
    what = f"the local vision model {chosen}"
    if preset is not None:
        what += f" ({preset.description}) from the Hugging Face repository {preset.repo}"
    return DefaultModelUnavailableError(
        f"no API key, --base-url or --backend was given, so ethan uses its embedded default, "
        f"{what}; it needs {' and '.join(files)}, but {why}. Three ways on: (1) install the "
        f"local extra with {LOCAL_INSTALL} and connect once to download the files "
        f"(ethan models pull {chosen if preset else DEFAULT_PRESET}), or point {MODEL_ENV} "
        f"and {MMPROJ_ENV} at GGUF files you have; (2) set OPENAI_API_KEY (or pass --api-key) "
        "to use the OpenAI API; (3) pass --base-url http://HOST:PORT/v1 for an "
        "OpenAI-compatible server (or --backend ollama for a local Ollama)",
        files=files,
    )
