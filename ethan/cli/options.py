"""The model, prompt and backend flags shared by every command that calls a model.

They are declared once, in :func:`_model_flags`, and :func:`with_model_options` grafts them
onto a command, which then receives a single :class:`ModelOptions`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ethan.aggregate import Method
from ethan.budget import Budget
from ethan.geocode import Geocoder, create_geocoder
from ethan.pipeline import Geolocator

R = TypeVar("R")
PANEL = "Model and prompt"
BUDGET = "Budget"
GEO = "Geocoding"
LOCAL = "Local models (--backend llama-cpp)"


@dataclass(frozen=True)
class ModelOptions:
    backend: str
    model: str | None
    responses: Path | None
    base_url: str | None
    api_key: str | None
    option: list[str] | None
    template: str
    template_dir: list[Path] | None
    shots: int
    fewshot_set: str
    samples: int
    temperature: float | None
    max_tokens: int
    seed: int | None
    structured: bool
    aggregate: Method
    max_side: int
    cache: bool
    geocoder: str
    geocoder_option: list[str] | None
    last_resort: bool
    max_requests: int | None
    max_total_tokens: int | None
    max_cost: float | None
    price_in: float | None
    price_out: float | None
    mmproj: Path | None = None
    chat_handler: str | None = None
    constrain: bool | None = None
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    threads: int | None = None
    candidates: Path | None = None

    def backend_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        options.update(_pairs(self.option, "--option"))
        if self.base_url is not None:
            options["base_url"] = self.base_url
        if self.api_key is not None:
            options["api_key"] = self.api_key
        if self.responses is not None:
            options["responses"] = self.responses
        # local-model settings reach the backend only when given (the other backends
        # refuse options they do not know)
        local = {
            "mmproj": str(self.mmproj) if self.mmproj is not None else None,
            "chat_handler": self.chat_handler,
            "constrain": self.constrain,
            "n_ctx": self.n_ctx,
            "n_gpu_layers": self.n_gpu_layers,
            "threads": self.threads,
        }
        options.update({key: value for key, value in local.items() if value is not None})
        return options

    def settings(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "template_dirs": self.template_dir or [],
            "shots": self.shots,
            "fewshot_set": self.fewshot_set,
            "samples": self.samples,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "structured": self.structured,
            "aggregate": self.aggregate,
            "max_side": self.max_side,
            "last_resort": self.last_resort,
            "candidates": _candidates(self.candidates),
        }

    def make_geocoder(self) -> Geocoder | None:
        """None keeps the shared offline default."""
        options = {k: _scalar(v) for k, v in _pairs(self.geocoder_option, "--geocoder-option")}
        if self.geocoder.strip().lower() == "offline" and not options:
            return None
        return create_geocoder(self.geocoder, **options)

    def budget(self) -> Budget | None:
        budget = Budget(
            max_requests=self.max_requests,
            max_tokens=self.max_total_tokens,
            max_cost=self.max_cost,
            price_in=self.price_in,
            price_out=self.price_out,
        )
        return budget if budget.limited() else None

    def geolocator(self) -> Geolocator:
        return Geolocator(
            self.backend,
            model=self.model,
            backend_options=self.backend_options(),
            cache=self.cache,
            budget=self.budget(),
            geocoder=self.make_geocoder(),
            **self.settings(),
        )


def _candidates(path: Path | None) -> dict[str, Any]:
    from ethan.baselines.candidates import load_candidates

    return load_candidates(path) if path is not None else {}


def _pairs(pairs: list[str] | None, flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as (key, value), keys with ``-`` turned into ``_``."""
    out = []
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=flag)
        out.append((key.strip().replace("-", "_"), value))
    return out


def _scalar(value: str) -> Any:
    """A flag's text as the int, float or bool it spells, else the text itself."""
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _model_flags(
    backend: Annotated[str, typer.Option(rich_help_panel=PANEL, help="Backend name.")] = "openai",
    model: Annotated[
        str | None,
        typer.Option(rich_help_panel=PANEL, help="Model name on the backend [openai: gpt-4o]."),
    ] = None,
    responses: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=PANEL, help="Recorded answers (CSV/JSONL) for --backend replay."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=PANEL, help="OpenAI-compatible server URL (default: OPENAI_BASE_URL)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=PANEL, help="API key (default: OPENAI_API_KEY).", show_default=False
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", rich_help_panel=PANEL, help="Backend option KEY=VALUE."),
    ] = None,
    template: Annotated[
        str, typer.Option(rich_help_panel=PANEL, help="Prompt template name or .j2 file.")
    ] = "gps",
    template_dir: Annotated[
        list[Path] | None, typer.Option(rich_help_panel=PANEL, help="Extra folder of templates.")
    ] = None,
    shots: Annotated[
        int, typer.Option(min=0, rich_help_panel=PANEL, help="Few-shot exemplars to include.")
    ] = 0,
    fewshot_set: Annotated[
        str, typer.Option(rich_help_panel=PANEL, help="Few-shot set name or file.")
    ] = "default",
    samples: Annotated[
        int, typer.Option(min=1, rich_help_panel=PANEL, help="Answers to sample per image.")
    ] = 1,
    temperature: Annotated[
        float | None, typer.Option(rich_help_panel=PANEL, help="Sampling temperature.")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option(min=1, rich_help_panel=PANEL, help="Answer length limit.")
    ] = 2048,
    seed: Annotated[
        int | None, typer.Option(rich_help_panel=PANEL, help="Sampling seed, where supported.")
    ] = None,
    structured: Annotated[
        bool,
        typer.Option(
            rich_help_panel=PANEL, help="Ask the server for JSON following the answer schema."
        ),
    ] = True,
    aggregate: Annotated[
        Method, typer.Option(rich_help_panel=PANEL, help="How hypotheses become one point.")
    ] = "medoid",
    geocoder: Annotated[
        str,
        typer.Option(
            rich_help_panel=GEO,
            help="offline, a geopy service (nominatim, photon, pelias, arcgis, googlev3...) "
            "or a chain like offline,nominatim.",
        ),
    ] = "offline",
    geocoder_option: Annotated[
        list[str] | None,
        typer.Option(
            "--geocoder-option",
            "-g",
            rich_help_panel=GEO,
            help="KEY=VALUE for the geocoder: domain, scheme, api_key, user_agent, timeout, "
            "min_delay_seconds, broad=medoid|centroid, min_city_population=1000...",
        ),
    ] = None,
    last_resort: Annotated[
        bool,
        typer.Option(
            rich_help_panel=GEO,
            help="Without a final answer, use the place the reasoning names most.",
        ),
    ] = True,
    max_side: Annotated[
        int, typer.Option(min=64, rich_help_panel=PANEL, help="Downscale images to this side.")
    ] = 1024,
    cache: Annotated[
        bool, typer.Option(rich_help_panel=PANEL, help="Use the on-disk response cache.")
    ] = True,
    candidates: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=PANEL,
            help="Predictions file of a baseline (ethan baseline predict, GeoCLIP...): each "
            "image's top-k go to the prompt's 'candidates' (try --template candidates).",
        ),
    ] = None,
    max_requests: Annotated[
        int | None,
        typer.Option(min=1, rich_help_panel=BUDGET, help="Stop after this many model calls."),
    ] = None,
    max_total_tokens: Annotated[
        int | None,
        typer.Option(min=1, rich_help_panel=BUDGET, help="Stop once this many tokens are used."),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(min=0, rich_help_panel=BUDGET, help="Stop once this many US$ are spent."),
    ] = None,
    price_in: Annotated[
        float | None,
        typer.Option(min=0, rich_help_panel=BUDGET, help="$ per million input tokens."),
    ] = None,
    price_out: Annotated[
        float | None,
        typer.Option(min=0, rich_help_panel=BUDGET, help="$ per million output tokens."),
    ] = None,
    mmproj: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=LOCAL,
            help="Vision projector GGUF for --model PATH.gguf (presets bring their own).",
        ),
    ] = None,
    chat_handler: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=LOCAL,
            help="llava-1-5, llava-1-6, qwen2.5-vl, minicpm-v-2.6, moondream, mtmd... "
            "(default: from the preset or the GGUF metadata).",
        ),
    ] = None,
    constrain: Annotated[
        bool | None,
        typer.Option(
            "--constrain/--no-constrain",
            rich_help_panel=LOCAL,
            help="Grammar-constrain the answer to the JSON schema (default: on).",
            show_default=False,
        ),
    ] = None,
    n_ctx: Annotated[
        int | None,
        typer.Option(
            min=0,
            rich_help_panel=LOCAL,
            help="Context size in tokens (image + prompt + shots + answer); 0: as trained.",
        ),
    ] = None,
    n_gpu_layers: Annotated[
        int | None,
        typer.Option(rich_help_panel=LOCAL, help="Layers to offload to the GPU; -1: all."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, rich_help_panel=LOCAL, help="CPU threads.")
    ] = None,
) -> None:
    """Declares the flags; never called."""


def with_model_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command(..., opts: ModelOptions)`` the shared flags instead of ``opts``."""
    flags = inspect.signature(_model_flags).parameters
    own = inspect.signature(command).parameters
    hints = typing.get_type_hints(command, include_extras=True)
    flag_hints = typing.get_type_hints(_model_flags, include_extras=True)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> R:
        opts = ModelOptions(**{name: kwargs.pop(name) for name in flags})
        return command(opts=opts, **kwargs)

    params = [p.replace(annotation=hints[p.name]) for p in own.values() if p.name != "opts"] + [
        p.replace(annotation=flag_hints[p.name]) for p in flags.values()
    ]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must see the merged signature, not the original
    return wrapper
