"""Loaded llama.cpp models, one per process per set of load settings, each with its own
worker thread.

llama.cpp is blocking and a loaded model runs one generation at a time, so every model
gets a single-thread executor: calls queue on it, off the event loop, and the weights are
loaded once (on the worker, by the first call) and shared by every backend that asks for
the same files and settings.
"""

from __future__ import annotations

import atexit
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ethan.backends.llama_handlers import make_handler
from ethan.errors import ConfigError, MissingDependencyError


@dataclass(frozen=True)
class EngineSpec:
    """What a loaded model depends on; equal specs share one model."""

    model_path: str
    mmproj_path: str | None
    handler: str | None
    chat_template: str | None
    chat_format: str | None
    n_ctx: int
    n_gpu_layers: int
    threads: int | None
    n_batch: int
    flash_attn: bool
    verbose: bool


class Engine:
    """One loaded model and the thread it runs on."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ethan-llama")
        self.llama: Any = None
        #: token counts of prompt texts seen before (system message, instructions...)
        self.text_tokens: dict[str, int] = {}

    def loaded(self) -> Any:
        """The model, loading it on first use. Call on the worker thread only."""
        if self.llama is None:
            self.llama = load_llama(self.spec)
        return self.llama

    def count_tokens(self, text: str) -> int:
        count = self.text_tokens.get(text)
        if count is None:
            count = len(self.loaded().tokenize(text.encode("utf-8"), add_bos=False))
            if len(self.text_tokens) > 1024:
                self.text_tokens.clear()
            self.text_tokens[text] = count
        return count

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        if self.llama is not None:
            self.llama.close()
            self.llama = None


_ENGINES: dict[EngineSpec, Engine] = {}
_LOCK = threading.Lock()


def engine_for(spec: EngineSpec) -> Engine:
    with _LOCK:
        engine = _ENGINES.get(spec)
        if engine is None:
            engine = _ENGINES[spec] = Engine(spec)
        return engine


def unload_models() -> int:
    """Free every model this process loaded; returns how many there were."""
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()
    return len(engines)


# Free models before interpreter teardown, when llama.cpp's own finalizers can no longer
# write to the (closed) standard streams.
atexit.register(unload_models)


def _quiet_multimodal_logs() -> None:
    """Route libmtmd's logging through llama-cpp-python's (silent unless verbose)."""
    import ctypes

    from llama_cpp import _logger, mtmd_cpp

    mtmd_cpp.mtmd_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def load_llama(spec: EngineSpec) -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "the llama-cpp backend needs llama-cpp-python, which is not installed; "
            "install it with: pip install 'ethan-geo[local]'"
        ) from exc
    handler = None
    if spec.mmproj_path is not None and spec.handler is not None:
        if not spec.verbose:
            _quiet_multimodal_logs()
        handler = make_handler(
            spec.handler,
            spec.mmproj_path,
            chat_template=spec.chat_template,
            use_gpu=spec.n_gpu_layers != 0,
            verbose=spec.verbose,
        )
    try:
        llama = llama_cpp.Llama(
            model_path=spec.model_path,
            n_ctx=spec.n_ctx,
            n_batch=min(spec.n_batch, spec.n_ctx) if spec.n_ctx else spec.n_batch,
            n_gpu_layers=spec.n_gpu_layers,
            n_threads=spec.threads,
            n_threads_batch=spec.threads,
            flash_attn=spec.flash_attn,
            chat_handler=handler,
            chat_format=spec.chat_format if handler is None else None,
            verbose=spec.verbose,
        )
    except ValueError as exc:
        raise ConfigError(f"llama.cpp could not load {spec.model_path}: {exc}") from None
    if handler is None and spec.chat_template is not None:
        llama.chat_handler = _template_handler(llama, spec.chat_template)
    return llama


def _template_handler(llama: Any, template: str) -> Any:
    """A text chat handler from a Jinja chat template (for GGUFs that ship none)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = llama.token_eos(), llama.token_bos()

    def text(token: int) -> str:
        if token < 0:
            return ""
        piece: bytes = llama.detokenize([token], special=True)
        return piece.decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=text(eos), bos_token=text(bos), stop_token_ids=[eos]
    )
    return formatter.to_chat_handler()
