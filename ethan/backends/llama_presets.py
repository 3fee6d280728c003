"""Named local models: a GGUF language model and its vision projector on the Hugging Face
Hub, fetched once into the user cache (``<cache>/models``) through ``huggingface_hub``.

Everything else takes explicit files: ``--model PATH.gguf --mmproj PATH.gguf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ethan.paths import user_cache_dir


@dataclass(frozen=True)
class Preset:
    name: str
    repo: str
    model_file: str
    mmproj_file: str
    handler: str
    n_ctx: int
    description: str


# fmt: off
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
# fmt: on


def preset_names() -> list[str]:
    return list(PRESETS)


def models_dir() -> Path:
    return user_cache_dir() / "models"
