"""Prompt templates: find them, render them in a sandbox, and build the chat messages.

Templates are Jinja2 files (``NAME.j2``) in the shipped ``prompts/`` folder, in folders the
user adds, or given directly by path. They render inside a sandbox with strict undefined
variables, so a template can neither reach Python internals nor silently drop a variable.
A template may have a companion ``NAME.system.j2``; otherwise a shared ``system.j2`` (if any
is found) supplies the system message, and one that renders empty means "no system message".

Every template receives ``output_contract`` (rendered from :class:`ModelAnswer`'s JSON
schema, so the prompt and the parser cannot drift apart), ``top_k``, ``candidates``, the
retrieval candidates ``rag_neighbours`` and ``rag_negatives`` (empty lists unless ``--rag``;
the shipped templates render them through ``_rag.j2``) and any caller-supplied variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from pydantic import BaseModel

from ethan.backends.base import ImagePart, Message, TextPart
from ethan.errors import ImageTemplateError, TemplateError
from ethan.fewshot import Exemplar, load_fewshot_set
from ethan.images import prepare_image
from ethan.resources import data_dir
from ethan.types import ModelAnswer

DEFAULT_TOP_K = 3
SYSTEM_TEMPLATE = "system.j2"
_DESCRIPTION = re.compile(r"^\{#-?\s*description:\s*(.*?)\s*-?#\}")


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    path: Path
    description: str


# --------------------------------------------------------------------------- contract


@lru_cache(maxsize=16)
def output_contract(max_guesses: int = DEFAULT_TOP_K) -> str:
    """Describe the JSON object a model must end with, generated from ``ModelAnswer``."""
    lines = schema_lines(ModelAnswer, {"guesses": max_guesses})
    lines.append(
        'Write null for anything you cannot estimate rather than leaving a key out. "lat" and '
        '"lon" are decimal degrees, negative for south and west, rounded to the precision the '
        'evidence supports. Each "probability" is your chance that the guess is right, and '
        f"together they add up to at most 1. Give between 1 and {max_guesses} guesses, the "
        "best first."
    )
    return "\n".join(lines)


def schema_lines(model: type[BaseModel], limits: Mapping[str, int] | None = None) -> list[str]:
    """The keys of ``model``'s JSON object, one bullet each (nested lists indented);
    ``limits`` caps the length of named lists ("list of 1 to N objects")."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    lines = ["The JSON object has exactly these keys, in this order:"]
    return lines + _field_lines(schema, defs, "", limits or {})


def _field_lines(
    schema: Mapping[str, Any], defs: Mapping[str, Any], indent: str, limits: Mapping[str, int]
) -> list[str]:
    lines: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        items = prop.get("items")
        if prop.get("type") == "array" and isinstance(items, Mapping):
            item = _deref(items, defs)
            count = f"1 to {limits[name]} " if name in limits else ""
            text = f"list of {count}objects"
            lines.append(_bullet(indent, name, text, prop.get("description")) + ". Each has:")
            lines += _field_lines(item, defs, indent + "  ", limits)
        else:
            lines.append(_bullet(indent, name, _type_text(prop, defs), prop.get("description")))
    return lines


def _bullet(indent: str, name: str, type_text: str, description: str | None) -> str:
    line = f'{indent}- "{name}": {type_text}'
    return f"{line}; {description}" if description else line


def _deref(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str):
        resolved: Mapping[str, Any] = defs[ref.rsplit("/", 1)[-1]]
        return resolved
    return prop


def _type_text(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    prop = _deref(prop, defs)
    if "enum" in prop:
        return "one of " + ", ".join(f'"{value}"' for value in prop["enum"])
    if "anyOf" in prop:
        options = [_deref(option, defs) for option in prop["anyOf"]]
        texts = [_type_text(option, defs) for option in options if option.get("type") != "null"]
        nullable = len(texts) < len(options)
        return " or ".join(texts) + (" or null" if nullable else "")
    kind = {"integer": "integer", "number": "number", "boolean": "true or false"}.get(
        str(prop.get("type")), "string"
    )
    if "minimum" in prop and "maximum" in prop:
        kind += f" from {prop['minimum']:g} to {prop['maximum']:g}"
    return kind


# --------------------------------------------------------------------------- templates


def _search_dirs(extra_dirs: Sequence[Path]) -> tuple[Path, ...]:
    dirs: list[Path] = []
    for folder in extra_dirs:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise TemplateError(f"template folder not found: {path}")
        dirs.append(path.resolve())
    dirs.append(data_dir("prompts"))
    return tuple(dirs)


def _resolve(name: str, extra_dirs: Sequence[Path]) -> tuple[tuple[Path, ...], str]:
    """The folders to search and the file name of template ``name`` (a name or a path)."""
    path = Path(name).expanduser()
    path_like = "/" in name or "\\" in name or name.endswith(".j2")
    if path_like and path.is_file():
        return (path.resolve().parent, *_search_dirs(extra_dirs)), path.name
    if "/" in name or "\\" in name:
        raise TemplateError(f"template file not found: {name}")
    return _search_dirs(extra_dirs), name if name.endswith(".j2") else f"{name}.j2"


def template_files(name: str, extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """The files template ``name`` renders from: itself and its system message's template."""
    dirs, file_name = _resolve(name, extra_dirs)
    own = file_name[: -len(".j2")] + ".system.j2"
    found: list[Path] = []
    for wanted in (file_name, own, SYSTEM_TEMPLATE):
        for folder in dirs:
            candidate = folder / wanted
            if candidate.is_file():
                found.append(candidate)
                break
        if wanted == own and found and found[-1].name == own:
            break  # a template's own system message replaces the shared one
    if not found or found[0].name != file_name:
        raise TemplateError(f"template {name!r} not found")
    return found


@lru_cache(maxsize=32)
def _environment(dirs: tuple[Path, ...]) -> SandboxedEnvironment:
    # immutable: a template cannot modify the lists and dicts the caller passes in
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(folder) for folder in dirs]),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def list_templates(extra_dirs: Sequence[Path] = ()) -> list[TemplateInfo]:
    """Templates found in the user folders and the shipped one; a user's copy wins."""
    found: dict[str, TemplateInfo] = {}
    for folder in _search_dirs(extra_dirs):
        for path in sorted(folder.glob("*.j2")):
            name = path.name[: -len(".j2")]
            if name in found or name.startswith("_") or _is_system(path.name):
                continue
            found[name] = TemplateInfo(name, path, _description(path))
    return sorted(found.values(), key=lambda info: info.name)


def _is_system(file_name: str) -> bool:
    return file_name == SYSTEM_TEMPLATE or file_name.endswith(".system.j2")


def _description(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return ""
    match = _DESCRIPTION.match(first.strip())
    return match.group(1) if match else ""


def _context(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    context = dict(variables or {})
    top_k = context.get("top_k", DEFAULT_TOP_K)
    if isinstance(top_k, str) and top_k.strip().isdigit():
        top_k = int(top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise TemplateError(f"top_k must be a whole number of at least 1, got {top_k!r}")
    context["top_k"] = top_k
    context.setdefault("candidates", [])
    context.setdefault("rag_neighbours", [])
    context.setdefault("rag_negatives", [])
    context.setdefault("verify_options", [])  # the --verify template; empty in a preview
    context.setdefault("output_contract", output_contract(top_k))
    return context


def _render(env: SandboxedEnvironment, file_name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(file_name).render(context)
    except TemplateNotFound as exc:
        names = ", ".join(info.name for info in _listed(env)) or "none"
        raise TemplateError(f"template {exc.name!r} not found; available: {names}") from None
    except TemplateSyntaxError as exc:
        where = exc.filename or exc.name or file_name
        raise TemplateError(f"syntax error in {where}, line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"template {file_name} did something unsafe: {exc}") from None
    except UndefinedError as exc:
        known = ", ".join(sorted(context))
        raise TemplateError(
            f"template {file_name} uses an undefined variable ({exc.message}); defined: {known}"
        ) from None
    except Exception as exc:
        raise TemplateError(
            f"template {file_name} failed to render: {type(exc).__name__}: {exc}"
        ) from exc


def _listed(env: SandboxedEnvironment) -> list[TemplateInfo]:
    loader = env.loader
    dirs = [Path(p) for p in loader.searchpath] if isinstance(loader, FileSystemLoader) else []
    shipped = data_dir("prompts")
    return list_templates([d for d in dirs if d != shipped and d.is_dir()])


def render_template(
    name: str,
    *,
    variables: Mapping[str, Any] | None = None,
    extra_dirs: Sequence[Path] = (),
) -> str:
    """Render template ``name`` (a template name or a path to a ``.j2`` file)."""
    dirs, file_name = _resolve(name, extra_dirs)
    return _render(_environment(dirs), file_name, _context(variables))


def _render_system(
    env: SandboxedEnvironment, file_name: str, context: Mapping[str, Any]
) -> str | None:
    own = file_name[: -len(".j2")] + ".system.j2" if file_name.endswith(".j2") else None
    for candidate in (own, SYSTEM_TEMPLATE):
        if candidate is None or candidate == file_name:
            continue
        try:
            env.get_template(candidate)
        except TemplateNotFound:
            continue
        return _render(env, candidate, context).strip() or None
    return None


# --------------------------------------------------------------------------- messages


def build_messages(
    template: str,
    image: ImagePart,
    *,
    shots: int = 0,
    fewshot_set: str = "default",
    variables: Mapping[str, Any] | None = None,
    extra_dirs: Sequence[Path] = (),
    max_side: int = 1024,
) -> list[Message]:
    """The chat for one photo: [system], ``shots`` worked examples, then the photo itself."""
    if shots < 0:
        raise TemplateError(f"shots must be 0 or more, got {shots}")
    dirs, file_name = _resolve(template, extra_dirs)
    env = _environment(dirs)
    context = _context(variables)
    instruction = _render(env, file_name, context).strip()
    messages: list[Message] = []
    system = _render_system(env, file_name, context)
    if system:
        messages.append(Message.text("system", system))
    if shots:
        examples = load_fewshot_set(fewshot_set)
        if shots > len(examples.exemplars):
            raise TemplateError(
                f"asked for {shots} few-shot examples but set {examples.name!r} has only "
                f"{len(examples.exemplars)}"
            )
        for exemplar in examples.exemplars[:shots]:
            content = _exemplar_content(exemplar, image, max_side)
            messages.append(Message(role="user", content=[TextPart(text=instruction), content]))
            messages.append(Message.text("assistant", exemplar.reply()))
    messages.append(Message(role="user", content=[TextPart(text=instruction), image]))
    return messages


def _exemplar_content(exemplar: Exemplar, target: ImagePart, max_side: int) -> TextPart | ImagePart:
    if exemplar.image is None:
        return TextPart(text=exemplar.scene_text())
    part = prepare_image(exemplar.image, max_side=max_side).part()
    if part.sha256 == target.sha256:
        raise ImageTemplateError(
            f"few-shot example {exemplar.id!r} is the photo being located; "
            "choose another set or fewer shots"
        )
    return part
