"""Named local models: a GGUF language model and its vision projector on the Hugging Face
Hub, fetched once into the user cache (``<cache>/models``) through ``huggingface_hub``.

Everything else takes explicit files: ``--model PATH.gguf --mmproj PATH.gguf``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ethan.errors import ConfigError, MissingDependencyError
from ethan.paths import user_cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    name: str
    repo: str
    model_file: str
    mmproj_file: str
    handler: str
    n_ctx: int
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "llava-1.5-7b", "mys/ggml_llava-v1.5-7b", "ggml-model-q4_k.gguf",
            "mmproj-model-f16.gguf", "llava-1-5", 4096, "LLaVA-1.5 7B, Q4_K",
        ),
        Preset(
            "llava-1.5-13b", "mys/ggml_llava-v1.5-13b", "ggml-model-q4_k.gguf",
            "mmproj-model-f16.gguf", "llava-1-5", 4096, "LLaVA-1.5 13B, Q4_K",
        ),
        Preset(
            "llava-1.6-mistral-7b", "cjpais/llava-1.6-mistral-7b-gguf",
            "llava-v1.6-mistral-7b.Q4_K_M.gguf", "mmproj-model-f16.gguf", "llava-1-6", 8192,
            "LLaVA-1.6 (LLaVA-NeXT) on Mistral 7B, Q4_K_M",
        ),
        Preset(
            "llava-1.6-vicuna-7b", "cjpais/llava-v1.6-vicuna-7b-gguf",
            "llava-v1.6-vicuna-7b.Q4_K_M.gguf", "mmproj-model-f16.gguf", "llava-1-6", 8192,
            "LLaVA-1.6 on Vicuna 7B, Q4_K_M",
        ),
        Preset(
            "llava-1.6-vicuna-13b", "cjpais/llava-v1.6-vicuna-13b-gguf",
            "llava-v1.6-vicuna-13b.Q4_K_M.gguf", "mmproj-model-f16.gguf", "llava-1-6", 8192,
            "LLaVA-1.6 on Vicuna 13B, Q4_K_M",
        ),
        Preset(
            "qwen2.5-vl-3b", "ggml-org/Qwen2.5-VL-3B-Instruct-GGUF",
            "Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf", "mmproj-Qwen2.5-VL-3B-Instruct-f16.gguf",
            "qwen2.5-vl", 8192, "Qwen2.5-VL 3B Instruct, Q4_K_M",
        ),
        Preset(
            "qwen2.5-vl-7b", "ggml-org/Qwen2.5-VL-7B-Instruct-GGUF",
            "Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "mmproj-Qwen2.5-VL-7B-Instruct-f16.gguf",
            "qwen2.5-vl", 8192, "Qwen2.5-VL 7B Instruct, Q4_K_M",
        ),
        Preset(
            "minicpm-v-2.6", "openbmb/MiniCPM-V-2_6-gguf", "ggml-model-Q4_K_M.gguf",
            "mmproj-model-f16.gguf", "minicpm-v-2.6", 8192, "MiniCPM-V 2.6 (8B), Q4_K_M",
        ),
        Preset(
            "moondream2", "moondream/moondream2-gguf", "moondream2-text-model-f16.gguf",
            "moondream2-mmproj-f16.gguf", "moondream", 4096, "Moondream2 (1.9B), F16",
        ),
        Preset(
            "gemma-3-4b", "ggml-org/gemma-3-4b-it-GGUF", "gemma-3-4b-it-Q4_K_M.gguf",
            "mmproj-model-f16.gguf", "mtmd", 8192, "Gemma 3 4B instruct, Q4_K_M (generic mtmd)",
        ),
    )
}


def preset_names() -> list[str]:
    return list(PRESETS)


def models_dir() -> Path:
    return user_cache_dir() / "models"


def fetch_preset(preset: Preset) -> tuple[Path, Path]:
    """Local paths of a preset's model and projector, downloading what is missing.

    Files already in the cache are used without touching the network; downloads show
    huggingface_hub's progress bars.
    """
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError as exc:
        raise MissingDependencyError(
            f"model preset {preset.name!r} is downloaded with huggingface_hub, which is not "
            "installed; install it with: pip install 'ethan[local]' "
            "(or pass local files: --model PATH.gguf --mmproj PATH.gguf)"
        ) from exc
    cache = str(models_dir())
    paths: list[Path] = []
    for file_name in (preset.model_file, preset.mmproj_file):
        cached = try_to_load_from_cache(preset.repo, file_name, cache_dir=cache)
        if isinstance(cached, str):
            paths.append(Path(cached))
            continue
        log.warning("downloading %s from %s into %s", file_name, preset.repo, cache)
        try:
            paths.append(Path(hf_hub_download(preset.repo, file_name, cache_dir=cache)))
        except Exception as exc:  # offline, not found, HTTP errors: all mean "not here"
            raise _not_available(preset, file_name, exc) from None
    return paths[0], paths[1]


def _not_available(preset: Preset, file_name: str, exc: Exception) -> ConfigError:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    why = "HF_HUB_OFFLINE is set" if offline else f"{type(exc).__name__}: {exc}".strip()
    return ConfigError(
        f"model preset {preset.name!r} needs {file_name} from the Hugging Face repository "
        f"{preset.repo}, which is not in the cache ({models_dir()}) and could not be "
        f"downloaded ({why.splitlines()[0]}). Either connect once to download "
        f"{preset.model_file} and {preset.mmproj_file}, or pass files you already have: "
        "--model PATH.gguf --mmproj PATH.gguf"
    )
