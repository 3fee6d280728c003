"""Our chat messages in llama-cpp-python's form, and the context-size check done before a
prompt reaches llama.cpp."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ethan.backends.base import ImagePart, Message, TextPart
from ethan.backends.llama_gguf import GGUFHeader
from ethan.backends.llama_handlers import image_tokens
from ethan.errors import ConfigError

#: tokens a chat template wraps around each message (role markers, separators)
MESSAGE_OVERHEAD = 8


class ContextTooSmallError(ConfigError):
    """The prompt (text, images, few-shot turns) plus the answer do not fit in ``n_ctx``."""


def to_chat(message: Message, *, multimodal: bool) -> dict[str, Any]:
    """Our message as an OpenAI-style dict; images become data URLs for the multimodal
    handlers, and the text parts of a turn are joined with blank lines."""
    texts = [p.text for p in message.content if isinstance(p, TextPart)]
    has_image = any(isinstance(p, ImagePart) for p in message.content)
    if message.role != "user" or not (multimodal and has_image):
        return {"role": message.role, "content": "\n\n".join(texts)}
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            parts.append({"type": "image_url", "image_url": {"url": part.data_url()}})
        elif parts and parts[-1]["type"] == "text":
            parts[-1]["text"] += "\n\n" + part.text
        else:
            parts.append({"type": "text", "text": part.text})
    return {"role": "user", "content": parts}


@dataclass(frozen=True)
class PromptSize:
    """An estimate of a prompt's tokens (at least this many)."""

    text: int
    images: list[int]
    messages: int

    @property
    def total(self) -> int:
        return self.text + sum(self.images)


def measure(
    messages: list[Message], count_tokens: Callable[[str], int], mmproj: GGUFHeader | None
) -> PromptSize:
    text = sum(
        MESSAGE_OVERHEAD
        + sum(count_tokens(p.text) for p in m.content if isinstance(p, TextPart))
        for m in messages
    )
    images = []
    for message in messages:
        for part in message.content:
            if isinstance(part, ImagePart) and mmproj is not None:
                images.append(image_tokens(mmproj, _image_size(part)))
    return PromptSize(text=text, images=images, messages=len(messages))


def check_fits(
    size: PromptSize, max_tokens: int | None, *, n_ctx: int, n_ctx_train: int | None, model: str
) -> None:
    """Refuse, with the numbers and the fix, a prompt whose answer cannot fit."""
    answer = max_tokens or 0
    needed = size.total + max(answer, 1)
    if needed <= n_ctx:
        return
    suggest = -(-needed // 256) * 256
    image_note = (
        f" + {len(size.images)} image(s) × about {max(size.images)} tokens" if size.images else ""
    )
    raise ContextTooSmallError(
        f"the prompt needs about {size.total} tokens ({size.text} of text in {size.messages} "
        f"messages{image_note}) and the answer up to {answer} (--max-tokens): {needed} in "
        f"all, more than the context window n_ctx={n_ctx} of {model}. "
        f"Pass --n-ctx {suggest} or more"
        + (f" (the model was trained on {n_ctx_train})" if n_ctx_train else "")
        + ", or lower --max-tokens, --shots or the number of images"
    )


def _image_size(part: ImagePart) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(part.data)) as img:
            size: tuple[int, int] = img.size
            return size
    except OSError:
        return None
