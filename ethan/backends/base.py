"""The backend protocol: chat messages and a generation config in, text choices out.

Backends know nothing about geography. A backend is registered by name with the dotted path
of its class, so that its (possibly heavy) dependencies are imported only when it is used.
"""

from __future__ import annotations

import base64
import importlib
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ethan.errors import ConfigError, MissingDependencyError
from ethan.types import Usage


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An encoded image, already stripped of metadata (see :mod:`ethan.images`)."""

    type: Literal["image"] = "image"
    data: bytes
    mime: str = "image/jpeg"
    sha256: str = Field(description="hash of ``data``, used for cache keys")
    name: str | None = Field(
        default=None,
        description="the source file's name; stays in-process (replay matches on it) and is "
        "never sent to a model",
    )

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: list[TextPart | ImagePart]

    @classmethod
    def text(cls, role: Literal["system", "user", "assistant"], text: str) -> Message:
        return cls(role=role, content=[TextPart(text=text)])

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able form with images replaced by their hashes (for cache keys)."""
        parts: list[dict[str, str]] = []
        for part in self.content:
            if isinstance(part, TextPart):
                parts.append({"text": part.text})
            else:
                parts.append({"image": part.sha256})
        return {"role": self.role, "content": parts}


class GenerateConfig(BaseModel):
    """Generation settings common to every backend."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    max_tokens: int | None = 2048
    n: int = Field(default=1, ge=1, description="number of samples")
    seed: int | None = None
    json_schema: dict[str, Any] | None = Field(
        default=None, description="ask for (or constrain to) JSON matching this schema"
    )
    schema_name: str = "answer"


class Choice(BaseModel):
    text: str
    finish_reason: str | None = None


class ModelOutput(BaseModel):
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs from a model backend."""

    name: str
    model: str

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        """Run one chat completion with ``config.n`` choices."""
        ...

    def identity(self) -> dict[str, Any]:
        """What makes this backend's answers differ from another's (for cache keys).

        Never includes secrets.
        """
        ...

    async def aclose(self) -> None: ...


#: Entry-point group through which other packages add backends (``name = "pkg.mod:Class"``).
ENTRY_POINT_GROUP = "ethan.backends"

_REGISTRY: dict[str, tuple[str, str | None]] = {
    # name: ("module:Class", extra that installs its dependencies)
    "openai": ("ethan.backends.openai:OpenAIBackend", None),
    "replay": ("ethan.backends.replay:ReplayBackend", None),
    "llama-cpp": ("ethan.backends.llama_cpp:LlamaCppBackend", "local"),
    "ollama": ("ethan.backends.ollama:OllamaBackend", None),
}
_PLUGINS_LOADED = False


class NoOptions(BaseModel):
    """For a backend that declares no ``Options``: it takes none."""

    model_config = ConfigDict(extra="forbid")


def register_backend(name: str, target: str, extra: str | None = None) -> None:
    """Register a backend class by dotted path, e.g. ``"mypkg.vlm:MyBackend"``.

    Packages can instead declare an entry point in the ``ethan.backends`` group.
    """
    _REGISTRY[name] = (target, extra)


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        _REGISTRY.setdefault(point.name, (point.value, None))


def backend_names() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Any]:
    """The class registered as ``name``, importing its module only now."""
    _load_plugins()
    try:
        target, extra = _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        from ethan.version import install_hint

        raise MissingDependencyError(
            f"backend {name!r} needs a package that is not installed ({exc.name}); "
            f"install it with: {install_hint(extra)}"
        ) from exc
    try:
        cls: type[Any] = getattr(module, class_name)
    except AttributeError:
        raise ConfigError(f"backend {name!r}: {module_name} has no {class_name}") from None
    return cls


def backend_options_model(name: str) -> type[BaseModel]:
    """The pydantic ``Options`` the backend declares (what ``-o KEY=VALUE`` may set)."""
    options = getattr(backend_class(name), "Options", None)
    if isinstance(options, type) and issubclass(options, BaseModel):
        return options
    return NoOptions


def create_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Instantiate a registered backend with its model and options."""
    cls = backend_class(name)
    kwargs = dict(options)
    if model is not None:
        kwargs["model"] = model
    backend: Backend = cls(**kwargs)
    return backend
