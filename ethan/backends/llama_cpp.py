"""Local vision-language models through llama.cpp (llama-cpp-python), fully offline.

``LlamaCppBackend("llava-1.5-7b")`` runs a preset (fetched once from the Hugging Face Hub
into the user cache); ``LlamaCppBackend("model.gguf", mmproj="mmproj.gguf")`` runs files
you have. The chat handler (LLaVA-1.5/1.6, Qwen2.5-VL, MiniCPM-V 2.6, Moondream, generic
mtmd...) comes from the preset or the GGUF metadata, or ``chat_handler=``.

With a JSON schema in the generation config (the pipeline sends :class:`ModelAnswer`'s),
decoding is constrained to it by default: a grammar in which the reasoning field comes
first, so the chain of thought survives, and the answer always closes before
``max_tokens``. ``constrain=False`` lets the model write freely, to compare.

This module imports llama-cpp-python only when a model is loaded, so it can be imported
(and its errors tested) without the engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ethan.backends.base import Choice, GenerateConfig, ImagePart, Message, ModelOutput
from ethan.backends.llama_download import fetch_preset
from ethan.backends.llama_engine import Engine, EngineSpec, engine_for, unload_models
from ethan.backends.llama_gguf import read_header
from ethan.backends.llama_handlers import check_handler, check_pairing, choose_handler
from ethan.backends.llama_presets import PRESETS, Preset, preset_names
from ethan.backends.llama_prompt import ContextTooSmallError, check_fits, measure, to_chat
from ethan.backends.llama_schema import closing_reserve, schema_to_gbnf
from ethan.errors import BackendError, ConfigError
from ethan.fields import cli, describe
from ethan.types import Usage

__all__ = ["ContextTooSmallError", "LlamaCppBackend", "LlamaCppOptions", "unload_models"]

DEFAULT_N_CTX = 4096
LOCAL = "Local models (--backend llama-cpp)"


class LlamaCppOptions(BaseModel):
    """Settings of the llama.cpp backend (CLI flags or ``-o KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    mmproj: str | None = Field(
        default=None,
        description="Vision projector GGUF for --model PATH.gguf (presets bring their own).",
        json_schema_extra=cli(LOCAL),
    )
    chat_handler: str | None = Field(
        default=None,
        description="llava-1-5, llava-1-6, qwen2.5-vl, minicpm-v-2.6, moondream, mtmd... "
        "(default: from the preset or the GGUF metadata).",
        json_schema_extra=cli(LOCAL),
    )
    chat_template: str | None = Field(
        default=None, description="Jinja chat template, or a file holding one"
    )
    chat_format: str | None = Field(default=None, description="text-only models' chat format")
    constrain: bool = Field(
        default=True,
        description="Grammar-constrain the answer to the JSON schema.",
        json_schema_extra=cli(LOCAL),
    )
    n_ctx: int | None = Field(
        default=None,
        ge=0,
        description="Context size in tokens (image + prompt + shots + answer); 0: as trained.",
        json_schema_extra=cli(LOCAL),
    )
    n_gpu_layers: int = Field(
        default=-1, description="Layers to offload to the GPU; -1: all, 0: none.",
        json_schema_extra=cli(LOCAL),
    )  # fmt: skip
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads.", json_schema_extra=cli(LOCAL)
    )
    n_batch: int = Field(default=512, ge=1)
    flash_attn: bool = False
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int = Field(default=40, ge=0)
    min_p: float = Field(default=0.05, ge=0, le=1)
    repeat_penalty: float = Field(default=1.0, gt=0)
    max_string: int | None = Field(
        default=1000, ge=1, description="characters per string under the constraint"
    )
    max_items: int | None = Field(default=5, ge=1, description="items per list under it")
    grammar_candidates: int = Field(
        default=64, ge=1, description="likeliest tokens the grammar checks first"
    )
    verbose: bool = False


class LlamaCppBackend:
    """A GGUF vision-language model run in-process by llama.cpp."""

    name = "llama-cpp"
    Options = LlamaCppOptions

    def __init__(
        self,
        model: str | None = None,
        *,
        mmproj: str | Path | None = None,
        options: LlamaCppOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        if mmproj is not None:
            option_overrides["mmproj"] = str(mmproj)
        try:
            self.options = LlamaCppOptions.model_validate(
                {**(options or LlamaCppOptions()).model_dump(), **option_overrides}
            )
        except ValidationError as exc:
            raise ConfigError(describe(exc, "llama-cpp backend option ")) from None
        opts = self.options
        if not model:
            raise ConfigError(
                "the llama-cpp backend needs --model: a preset "
                f"({', '.join(preset_names())}) or a file, --model PATH.gguf --mmproj PATH.gguf"
            )
        self.preset, model_path, mmproj_path = _resolve_files(model, opts.mmproj)
        self.model = self.preset.name if self.preset else model_path.name
        self.model_header = read_header(model_path)
        self.mmproj_header = read_header(mmproj_path) if mmproj_path else None
        self.chat_template = _read_template(opts.chat_template)
        self.handler = self._pick_handler()
        n_ctx = opts.n_ctx
        if n_ctx is None:
            n_ctx = self.preset.n_ctx if self.preset else DEFAULT_N_CTX
        if n_ctx == 0:
            n_ctx = self.n_ctx_train or DEFAULT_N_CTX
        self.spec = EngineSpec(
            model_path=str(model_path),
            mmproj_path=str(mmproj_path) if mmproj_path else None,
            handler=self.handler,
            chat_template=self.chat_template,
            chat_format=opts.chat_format,
            n_ctx=n_ctx,
            n_gpu_layers=opts.n_gpu_layers,
            threads=opts.threads,
            n_batch=opts.n_batch,
            flash_attn=opts.flash_attn,
            verbose=opts.verbose,
        )
        self._engine: Engine = engine_for(self.spec)

    @property
    def n_ctx(self) -> int:
        return self.spec.n_ctx

    @property
    def n_ctx_train(self) -> int | None:
        return self.model_header.get_int(f"{self.model_header.architecture}.context_length")

    def _pick_handler(self) -> str | None:
        if self.mmproj_header is None:
            if self.options.chat_handler is not None:
                raise ConfigError(
                    "--chat-handler applies to vision models: pass the projector with --mmproj"
                )
            return None
        check_pairing(self.model_header, self.mmproj_header)
        if self.options.chat_handler is not None:
            return check_handler(self.options.chat_handler)
        if self.preset is not None:
            return self.preset.handler
        if self.chat_template is not None:
            return "mtmd"
        return choose_handler(self.model_header, self.mmproj_header)

    def identity(self) -> dict[str, Any]:
        o = self.options
        files = [Path(p) for p in (self.spec.model_path, self.spec.mmproj_path) if p]
        return {
            "backend": self.name,
            "model": self.model,
            "files": [(p.name, p.stat().st_size) for p in files],
            "handler": self.handler,
            "chat_template": _digest(self.chat_template),
            "chat_format": o.chat_format,
            "constrain": o.constrain,
            "limits": [o.max_string, o.max_items, o.grammar_candidates] if o.constrain else None,
            "sampling": [o.top_p, o.top_k, o.min_p, o.repeat_penalty],
        }

    async def aclose(self) -> None:
        """Nothing to release per backend: the model stays loaded for reuse in this
        process (free it with :func:`unload_models`)."""

    def load(self) -> None:
        """Load the model now rather than on the first generation (blocking)."""
        self._engine.executor.submit(self._engine.loaded).result()

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        """Queue the generation on the model's thread; cancelling it stops llama.cpp at
        the next token (constrained) or the next sample."""
        loop = asyncio.get_running_loop()
        abort = threading.Event()
        job = loop.run_in_executor(
            self._engine.executor, self.generate_blocking, messages, config, abort
        )
        try:
            return await job
        except asyncio.CancelledError:
            abort.set()
            raise

    # -- on the worker thread ----------------------------------------------------------------

    def generate_blocking(
        self,
        messages: list[Message],
        config: GenerateConfig,
        abort: threading.Event | None = None,
    ) -> ModelOutput:
        """One chat completion with ``config.n`` samples (blocking; on the model's thread)."""
        engine = self._engine
        llama = engine.loaded()
        images = [p for m in messages for p in m.content if isinstance(p, ImagePart)]
        if images and self.mmproj_header is None:
            raise ConfigError(
                f"the model {self.model} has no vision projector, so it cannot see the photo: "
                "pass the matching projector with --mmproj PATH.gguf (or use a preset)"
            )
        size = measure(messages, engine.count_tokens, self.mmproj_header)
        check_fits(
            size,
            config.max_tokens,
            n_ctx=self.n_ctx,
            n_ctx_train=self.n_ctx_train,
            model=self.model,
        )
        budget = config.max_tokens or self.n_ctx - size.total
        schema = config.json_schema if self.options.constrain else None
        grammar = None
        if schema is not None:
            o = self.options
            grammar = schema_to_gbnf(schema, max_items=o.max_items, max_string=o.max_string)
        chat = [to_chat(m, multimodal=self.handler is not None) for m in messages]
        choices: list[Choice] = []
        usage = Usage()
        for sample in range(config.n):
            if abort is not None and abort.is_set():
                raise BackendError("generation cancelled")
            seed = config.seed + sample if config.seed is not None else random.getrandbits(31)
            response = self._complete(llama, chat, config, seed, (grammar, schema, budget), abort)
            choice = response["choices"][0]
            text = choice["message"].get("content") or ""
            choices.append(Choice(text=text, finish_reason=choice.get("finish_reason")))
            used = response.get("usage") or {}
            usage = usage + Usage(
                prompt_tokens=used.get("prompt_tokens", 0),
                completion_tokens=used.get("completion_tokens", 0),
                total_tokens=used.get("total_tokens", 0),
            )
        return ModelOutput(model=self.model, choices=choices, usage=usage)

    def _complete(
        self,
        llama: Any,
        chat: list[dict[str, Any]],
        config: GenerateConfig,
        seed: int,
        constrain: tuple[str | None, dict[str, Any] | None, int],
        abort: threading.Event | None,
    ) -> dict[str, Any]:
        from llama_cpp import LogitsProcessorList

        from ethan.backends.llama_constrain import GrammarConstraint

        o = self.options
        kwargs: dict[str, Any] = {
            "max_tokens": config.max_tokens,
            "seed": seed,
            "top_p": o.top_p,
            "top_k": o.top_k,
            "min_p": o.min_p,
            "repeat_penalty": o.repeat_penalty,
        }
        if config.temperature is not None:
            kwargs["temperature"] = config.temperature
        grammar, schema, budget = constrain
        constraint = None
        if grammar is not None and schema is not None:
            constraint = GrammarConstraint(
                llama,
                grammar,
                budget=budget,
                reserve=closing_reserve(schema),
                candidates=o.grammar_candidates,
                abort=abort,
            )
            kwargs["logits_processor"] = LogitsProcessorList([constraint])
        # Evaluate every prompt from scratch: reusing the previous prompt's cache changes
        # the logits slightly, and answers must not depend on what ran before (the
        # multimodal handlers start afresh anyway).
        llama.reset()
        try:
            response: dict[str, Any] = llama.create_chat_completion(messages=chat, **kwargs)
        except ValueError as exc:
            raise self._translate(exc) from None
        except RuntimeError as exc:
            raise BackendError(f"llama.cpp failed on {self.model}: {exc}") from None
        finally:
            if constraint is not None:
                constraint.close()
        if constraint is not None and constraint.error is not None:
            raise BackendError(f"constrained decoding failed: {constraint.error}")
        if abort is not None and abort.is_set():
            raise BackendError("generation cancelled")
        return response

    def _translate(self, exc: ValueError) -> Exception:
        text = str(exc)
        if "n_ctx" in text or "context window" in text:
            return ContextTooSmallError(
                f"the prompt does not fit in the context window of {self.model} "
                f"(llama.cpp: {text}); pass a larger --n-ctx (now {self.n_ctx}), or lower "
                "--shots, --max-side or --max-tokens"
            )
        if "mtmd context" in text or "Vision is not supported" in text:
            return ConfigError(
                f"llama.cpp could not load the vision projector {self.spec.mmproj_path} "
                f"for {self.model} ({text}); check that --mmproj is the projector made for "
                "this --model"
            )
        return BackendError(f"llama.cpp failed on {self.model}: {text}")


def _resolve_files(model: str, mmproj: str | None) -> tuple[Preset | None, Path, Path | None]:
    """The preset (if any) and the local model and projector files."""
    path = Path(model).expanduser()
    preset = PRESETS.get(model)
    if preset is None and not path.is_file():
        looks_like_path = path.suffix == ".gguf" or "/" in model or "\\" in model
        if looks_like_path:
            raise ConfigError(f"model file not found: {path} (--model PATH.gguf)")
        raise ConfigError(
            f"--model {model!r} is neither a GGUF file nor a preset; presets: "
            f"{', '.join(preset_names())}; or pass files: --model PATH.gguf --mmproj PATH.gguf"
        )
    projector = Path(mmproj).expanduser() if mmproj else None
    if projector is not None and not projector.is_file():
        raise ConfigError(f"projector file not found: {projector} (--mmproj PATH.gguf)")
    if preset is None:
        return None, path, projector
    model_path, preset_projector = fetch_preset(preset)
    return preset, model_path, projector or preset_projector


def _read_template(value: str | None) -> str | None:
    """A chat template given inline or as a file path."""
    if value is None or "{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"chat template file not found: {path} (chat_template)")
    return path.read_text(encoding="utf-8")


def _digest(text: str | None) -> str | None:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if text else None
