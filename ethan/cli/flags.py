"""Command-line flags generated from the run specification (:mod:`ethan.spec`).

Every field of the specification's sections that carries ``cli(...)`` metadata becomes one
flag — name, help, panel and type from the field, its default shown from the field — and
so do the fields of the built-in backends' ``Options`` that carry it (``--base-url``,
``--mmproj``...). A flag left out is ``None`` and changes nothing, so flags can override a
``--config`` file field by field. Adding an option to ethan is one field in
:mod:`ethan.spec` (or in a backend's ``Options``): the flag, the saved ``run.yaml`` and the
validation follow from it.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import typer
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from rich.markup import escape

from ethan.errors import ConfigError
from ethan.spec import (
    BackendSpec,
    BudgetSpec,
    DatasetSpec,
    GeocoderSpec,
    RetrievalSpec,
    RunSpec,
    ScoringSpec,
    Settings,
    read_yaml,
)

R = TypeVar("R")
Kind = Literal["locate", "eval"]

#: The sections of the specification that have flags, by where they sit in it.
LOCATE_SECTIONS: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (
    ((), RunSpec),
    (("backend",), BackendSpec),
    (("settings",), Settings),
    (("retrieval",), RetrievalSpec),
    (("geocoder",), GeocoderSpec),
    (("budget",), BudgetSpec),
)
EVAL_SECTIONS: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (
    *LOCATE_SECTIONS,
    (("dataset",), DatasetSpec),
    (("scoring",), ScoringSpec),
)
#: Backends whose own options get flags (others take ``-o KEY=VALUE``).
FLAGGED_BACKENDS = ("openai", "replay", "llama-cpp")


@dataclass(frozen=True)
class Flag:
    """One generated flag: the parameter typer sees and where its value goes in the spec."""

    param: str
    path: tuple[str, ...]
    pairs: bool
    parameter: inspect.Parameter


def _meta(info: FieldInfo) -> dict[str, Any] | None:
    extra = info.json_schema_extra
    meta = extra.get("cli") if isinstance(extra, Mapping) else None
    return dict(meta) if isinstance(meta, Mapping) else None


def _annotation(info: FieldInfo, pairs: bool) -> tuple[Any, bool]:
    """The flag's type (always optional) and whether it is an on/off switch."""
    if pairs:
        return list[str] | None, False
    kind = info.annotation
    args = [a for a in get_args(kind) if a is not type(None)]
    if get_origin(kind) in (typing.Union, types.UnionType):
        lists = [a for a in args if get_origin(a) is list]
        kind = lists[0] if lists else args[0] if len(args) == 1 else str
    if kind is SecretStr:
        kind = str
    if kind is bool:
        return bool | None, True
    if get_origin(kind) is list:
        return list[get_args(kind)[0]] | None, False  # type: ignore[misc]
    if get_origin(kind) is Literal or kind in (int, float, str, Path):
        return typing.Optional[kind], False  # noqa: UP045 (kind is a runtime value)
    return str | None, False


def _shown_default(info: FieldInfo) -> str:
    if info.is_required():
        return ""
    value = info.get_default(call_default_factory=True)
    if value in (None, [], {}, ""):
        return ""
    if isinstance(value, list):
        value = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f" [default: {value}]"


def _flags_of(
    model: type[BaseModel], path: tuple[str, ...], panel: str | None = None
) -> list[Flag]:
    flags = []
    for name, info in model.model_fields.items():
        meta = _meta(info)
        if meta is None or meta.get("hidden"):
            continue
        option = meta.get("flag") or "--" + name.replace("_", "-")
        param = option.lstrip("-").replace("-", "_")
        kind, switch = _annotation(info, bool(meta.get("pairs")))
        names = [f"{option}/--no-{option[2:]}" if switch else option]
        if meta.get("short"):
            names.append(meta["short"])
        help_text = escape((info.description or "") + _shown_default(info))
        declared = typer.Option(
            *names,
            help=help_text,
            rich_help_panel=panel or meta.get("panel"),
            show_default=False,
        )
        parameter = inspect.Parameter(
            param,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[kind, declared],
        )
        flags.append(Flag(param, (*path, name), bool(meta.get("pairs")), parameter))
    return flags


@functools.cache
def spec_flags(kind: Kind) -> tuple[Flag, ...]:
    """Every flag of ``ethan locate`` or ``ethan eval`` built from the specification."""
    from ethan.backends.base import backend_options_model

    sections: tuple[tuple[tuple[str, ...], type[BaseModel]], ...] = (
        LOCATE_SECTIONS if kind == "locate" else EVAL_SECTIONS
    )
    flags: dict[str, Flag] = {}
    for path, model in sections:
        for flag in _flags_of(model, path):
            flags.setdefault(flag.param, flag)
    for name in FLAGGED_BACKENDS:
        try:
            options = backend_options_model(name)
        except ConfigError:  # an optional backend that is not installed
            continue
        for flag in _flags_of(options, ("backend", "options")):
            flags.setdefault(flag.param, flag)
    return tuple(flags.values())


def pairs(values: Iterable[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict, keys with ``-`` turned into ``_``."""
    out: dict[str, str] = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = value
    return out


@dataclass
class GivenFlags:
    """The generated flags a command was given, ready to merge into a specification."""

    values: dict[Flag, Any]

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a config file's contents) with every given flag set over it."""
        for flag, value in self.values.items():
            if value is None or (isinstance(value, list | tuple) and not value):
                continue
            target = data
            for part in flag.path[:-1]:
                node = target.get(part)
                if not isinstance(node, dict):
                    node = {}
                    target[part] = node
                target = node
            last = flag.path[-1]
            if flag.pairs:
                current = target.get(last)
                merged = dict(current) if isinstance(current, dict) else {}
                merged.update(pairs(value, "--" + flag.param.replace("_", "-")))
                target[last] = merged
            else:
                target[last] = list(value) if isinstance(value, tuple) else value
        return data

    def spec(self, config: Path | None, **fixed: Any) -> RunSpec:
        """The run specification: ``config`` (if any), then the flags, then ``fixed``
        top-level fields that are not ``None``."""
        data = read_yaml(config) if config is not None else {}
        data = self.apply(data)
        for key, value in fixed.items():
            if value is None:
                continue
            if isinstance(value, dict):
                current = data.get(key)
                section = dict(current) if isinstance(current, dict) else {}
                data[key] = {**section, **{k: v for k, v in value.items() if v is not None}}
            else:
                data[key] = value
        return RunSpec.parse(data, where=str(config) if config else "")


def with_spec_flags(
    kind: Literal["locate", "eval"],
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give ``command(..., flags: GivenFlags)`` the generated flags instead of ``flags``."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        generated = spec_flags(kind)
        own = inspect.signature(command).parameters
        hints = typing.get_type_hints(command, include_extras=True)

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> R:
            given = GivenFlags({flag: kwargs.pop(flag.param, None) for flag in generated})
            return command(flags=given, **kwargs)

        mine = [p.replace(annotation=hints[p.name]) for p in own.values() if p.name != "flags"]
        taken = {p.name for p in mine}
        params = mine + [f.parameter for f in generated if f.param not in taken]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must see the merged signature, not the original
        return wrapper

    return decorate
