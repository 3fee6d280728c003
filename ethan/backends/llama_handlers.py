"""Which llama-cpp-python multimodal chat handler drives a model, and how many tokens an
image costs it.

Handler names are the ``--chat_format`` names of ``python -m llama_cpp.server``, so one
vocabulary serves both ways of running a local model. ``mtmd`` is the generic handler
(libmtmd with the model's own chat template: Gemma 3 and the other recent families).
"""

from __future__ import annotations

import math
from typing import Any

from ethan.backends.llama_gguf import GGUFHeader
from ethan.errors import ConfigError

#: our name -> class in ``llama_cpp.llama_chat_format``
HANDLERS: dict[str, str] = {
    "llava-1-5": "Llava15ChatHandler",
    "llava-1-6": "Llava16ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
    "obsidian": "ObsidianChatHandler",
    "llama-3-vision-alpha": "Llama3VisionAlphaChatHandler",
    "minicpm-v-2.6": "MiniCPMv26ChatHandler",
    "qwen2.5-vl": "Qwen25VLChatHandler",
    "mtmd": "MTMDChatHandler",
}

_LLAVA_PROJECTORS = {"mlp", "ldp", "ldpv2", "mlp_norm"}


def check_handler(name: str) -> str:
    if name not in HANDLERS:
        raise ConfigError(
            f"unknown chat handler {name!r}; choose one of: {', '.join(HANDLERS)} (--chat-handler)"
        )
    return name


def projector_type(mmproj: GGUFHeader) -> str:
    meta = mmproj.metadata
    value = meta.get("clip.vision.projector_type", meta.get("clip.projector_type", "mlp"))
    return str(value).lower()


def choose_handler(model: GGUFHeader, mmproj: GGUFHeader) -> str:
    """Pick a handler from the GGUF metadata of the language model and its projector."""
    projector = projector_type(mmproj)
    arch = model.architecture.lower()
    has_template = bool(model.metadata.get("tokenizer.chat_template"))
    if projector == "resampler" and mmproj.get_int("clip.minicpmv_version") == 3:
        return "minicpm-v-2.6"
    if "qwen2" in projector and ("2.5" in projector or "25" in projector):
        return "qwen2.5-vl"
    if projector in _LLAVA_PROJECTORS:
        if arch == "phi2":
            return "moondream"
        if "clip.vision.image_grid_pinpoints" in mmproj.metadata:
            return "llava-1-6"
        return "llava-1-5"
    if has_template:
        return "mtmd"
    raise ConfigError(
        f"cannot tell which chat handler suits {model.path.name} with projector "
        f"{mmproj.path.name} (projector type {projector!r}, no chat template in the model); "
        f"pass --chat-handler with one of: {', '.join(HANDLERS)}"
    )


def check_pairing(model: GGUFHeader, mmproj: GGUFHeader) -> None:
    """Fail clearly when a projector cannot feed this language model (llama.cpp only says
    "failed to load")."""
    if mmproj.architecture and mmproj.architecture != "clip":
        raise ConfigError(
            f"{mmproj.path} is not a vision projector (its architecture is "
            f"{mmproj.architecture!r}, expected 'clip'); check --mmproj"
        )
    if not mmproj.metadata.get("clip.has_vision_encoder", True):
        raise ConfigError(f"{mmproj.path} has no vision encoder; check --mmproj")
    width, wanted = mmproj.projector_width(), model.embedding_width()
    if width is not None and wanted is not None and width != wanted:
        raise ConfigError(
            f"the projector {mmproj.path.name} writes {width}-wide embeddings but the model "
            f"{model.path.name} ({model.architecture}) takes {wanted}-wide ones: they belong to "
            "different models; pass the --mmproj file made for this --model"
        )


def image_tokens(mmproj: GGUFHeader, size: tuple[int, int] | None) -> int:
    """About how many context tokens one image takes (at least this many).

    Exact for fixed-grid projectors (LLaVA-1.5, Moondream, Gemma 3); a lower bound for the
    tiling ones (LLaVA-1.6, MiniCPM-V), estimated from the image size for Qwen2.5-VL.
    """
    image = mmproj.get_int("clip.vision.image_size") or 336
    patch = mmproj.get_int("clip.vision.patch_size") or 14
    side = max(image // patch, 1)
    projector = projector_type(mmproj)
    if "qwen" in projector and size is not None:
        merge = 2 * patch  # 2x2 patches merge into one token
        return max(math.ceil(size[0] / merge) * math.ceil(size[1] / merge), 1)
    if projector == "resampler":
        return 64
    if projector == "gemma3":
        return 256
    if projector in ("ldp", "ldpv2"):
        return max(side * side // 4, 1)
    if projector in _LLAVA_PROJECTORS or projector in ("idefics3", "pixtral"):
        return side * side
    return max(side * side // 4, 1)


def make_handler(
    name: str, mmproj_path: str, *, chat_template: str | None, use_gpu: bool, verbose: bool
) -> Any:
    """Instantiate handler ``name`` (importing llama-cpp-python's chat formats only now)."""
    from llama_cpp import llama_chat_format

    base = getattr(llama_chat_format, HANDLERS[check_handler(name)])
    if chat_template is None:
        if name == "mtmd":
            return base(clip_model_path=mmproj_path, verbose=verbose, use_gpu=use_gpu)
        return base(clip_model_path=mmproj_path, verbose=verbose)
    template: str = chat_template
    if name != "mtmd":
        raise ConfigError(
            "a chat template (chat_template) only applies to the generic 'mtmd' handler; "
            f"{name!r} has its own"
        )

    class TemplatedMTMD(base):  # type: ignore[misc, valid-type]
        """The generic handler with a chat template given by the user."""

        def _get_chat_template(self, llama_model: Any) -> str:
            return template

    return TemplatedMTMD(clip_model_path=mmproj_path, verbose=verbose, use_gpu=use_gpu)
