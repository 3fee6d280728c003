"""How a setting's field is declared: its command-line appearance (:func:`cli`) and how a
bad value is told to the user (:func:`describe`). A leaf module, so that the run
specification and every backend's ``Options`` can use it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def cli(
    panel: str,
    *,
    flag: str | None = None,
    short: str | None = None,
    pairs: bool = False,
    hidden: bool = False,
) -> dict[str, Any]:
    """How a field appears on the command line (read by :mod:`ethan.cli.flags`).

    ``flag`` overrides the name (``--field-name`` by default), ``pairs`` makes a dict field
    a repeatable ``KEY=VALUE`` flag, ``hidden`` keeps a field off the command line.
    """
    return {"cli": {"panel": panel, "flag": flag, "short": short, "pairs": pairs, "hidden": hidden}}


def describe(
    exc: ValidationError,
    prefix: str = "",
    where: str = "",
    root: type[BaseModel] | None = None,
) -> str:
    """A pydantic error as one line per bad field, with the allowed values where known."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "(root)"
        message = error["msg"]
        context = error.get("ctx") or {}
        if "expected" in context:
            message = f"must be one of {context['expected']}"
        if error["type"] == "extra_forbidden":
            message = "is not a known setting"
            message += _known_fields(error["loc"], root) if root is not None else ""
        given = error.get("input")
        quiet = isinstance(given, dict | list) or error["type"] == "missing"
        shown = "" if quiet else f" (got {given!r})"
        lines.append(f"{prefix}{field}: {message}{shown}")
    source = f" in {where}" if where else ""
    return f"invalid setting{source}: " + "; ".join(lines)


def _known_fields(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model: type[BaseModel] = root
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None) if field else None
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        models = [a for a in inner if issubclass(a, BaseModel)]
        if not models:
            return ""
        model = models[0]
    return f"; known: {', '.join(model.model_fields)}"
