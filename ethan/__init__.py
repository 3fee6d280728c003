"""ethan: geolocate photos with vision-language models that reason like GeoGuessr experts.

>>> from ethan import Geolocator                                  # doctest: +SKIP
>>> geo = Geolocator("openai", model="gpt-4o")                     # doctest: +SKIP
>>> prediction = geo.locate("photo.jpg")                            # doctest: +SKIP

Every public name is imported on first use (module ``__getattr__``), so ``import ethan`` and
``ethan --version`` stay fast: the OpenAI SDK, numpy, the geocoder... load when needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The distribution's name on PyPI (the import name and the command stay ``ethan``).
DIST_NAME = "ethan-geo"

if TYPE_CHECKING:
    from ethan.aggregate import Aggregate, aggregate
    from ethan.backends.base import (
        Backend,
        Choice,
        GenerateConfig,
        ImagePart,
        Message,
        ModelOutput,
        TextPart,
        backend_names,
        create_backend,
        register_backend,
    )
    from ethan.backends.llama_cpp import (
        ContextTooSmallError,
        LlamaCppBackend,
        LlamaCppOptions,
        unload_models,
    )
    from ethan.backends.ollama import OllamaBackend
    from ethan.backends.openai import OpenAIBackend, OpenAIOptions
    from ethan.backends.replay import ReplayBackend
    from ethan.baselines.candidates import Candidate, load_candidates
    from ethan.cache import ResponseCache
    from ethan.card import emit_card, use_cards
    from ethan.defaults import DefaultModelUnavailableError, default_applies, default_backend
    from ethan.errors import (
        AuthenticationError,
        BackendError,
        ConfigError,
        EthanError,
        ImageError,
        MissingAPIKeyError,
        TemplateError,
    )
    from ethan.eval import Dataset, Metrics, Record, Sample, load_dataset, score
    from ethan.eval.compare import compare
    from ethan.eval.maps import write_prediction_map
    from ethan.geocode import (
        ChainGeocoder,
        Gazetteer,
        Geocoder,
        OfflineGeocoder,
        OnlineGeocoder,
        Place,
        Resolved,
        ReverseGeocoder,
        create_geocoder,
        default_geocoder,
        reverse_many,
    )
    from ethan.geocode.reverse import reverse
    from ethan.images import PreparedImage, iter_image_files, prepare_image
    from ethan.parse import ParseResult, parse_answer
    from ethan.pipeline import Geolocator, Settings
    from ethan.prompts import build_messages, list_templates, render_template
    from ethan.results import PredictionWriter, read_predictions
    from ethan.types import (
        Clue,
        ClueCategory,
        Guess,
        Hypothesis,
        ModelAnswer,
        PointSource,
        Prediction,
        Status,
        Usage,
    )

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Aggregate": "ethan.aggregate",
    "AuthenticationError": "ethan.errors",
    "Backend": "ethan.backends.base",
    "BackendError": "ethan.errors",
    "Candidate": "ethan.baselines.candidates",
    "ChainGeocoder": "ethan.geocode",
    "Choice": "ethan.backends.base",
    "Clue": "ethan.types",
    "ClueCategory": "ethan.types",
    "ConfigError": "ethan.errors",
    "ContextTooSmallError": "ethan.backends.llama_cpp",
    "Dataset": "ethan.eval",
    "DefaultModelUnavailableError": "ethan.defaults",
    "EthanError": "ethan.errors",
    "Gazetteer": "ethan.geocode",
    "GenerateConfig": "ethan.backends.base",
    "Geocoder": "ethan.geocode",
    "Geolocator": "ethan.pipeline",
    "Guess": "ethan.types",
    "Hypothesis": "ethan.types",
    "ImageError": "ethan.errors",
    "ImagePart": "ethan.backends.base",
    "LlamaCppBackend": "ethan.backends.llama_cpp",
    "LlamaCppOptions": "ethan.backends.llama_cpp",
    "Message": "ethan.backends.base",
    "Metrics": "ethan.eval",
    "MissingAPIKeyError": "ethan.errors",
    "ModelAnswer": "ethan.types",
    "ModelOutput": "ethan.backends.base",
    "OfflineGeocoder": "ethan.geocode",
    "OllamaBackend": "ethan.backends.ollama",
    "OnlineGeocoder": "ethan.geocode",
    "OpenAIBackend": "ethan.backends.openai",
    "OpenAIOptions": "ethan.backends.openai",
    "ParseResult": "ethan.parse",
    "Place": "ethan.geocode",
    "PointSource": "ethan.types",
    "Prediction": "ethan.types",
    "PredictionWriter": "ethan.results",
    "PreparedImage": "ethan.images",
    "Record": "ethan.eval",
    "ReplayBackend": "ethan.backends.replay",
    "Resolved": "ethan.geocode",
    "ResponseCache": "ethan.cache",
    "ReverseGeocoder": "ethan.geocode",
    "Sample": "ethan.eval",
    "Settings": "ethan.pipeline",
    "Status": "ethan.types",
    "TemplateError": "ethan.errors",
    "TextPart": "ethan.backends.base",
    "Usage": "ethan.types",
    "aggregate": "ethan.aggregate",
    "backend_names": "ethan.backends.base",
    "build_messages": "ethan.prompts",
    "compare": "ethan.eval.compare",
    "create_backend": "ethan.backends.base",
    "create_geocoder": "ethan.geocode",
    "default_applies": "ethan.defaults",
    "default_backend": "ethan.defaults",
    "default_geocoder": "ethan.geocode",
    "emit_card": "ethan.card",
    "iter_image_files": "ethan.images",
    "list_templates": "ethan.prompts",
    "load_candidates": "ethan.baselines.candidates",
    "load_dataset": "ethan.eval",
    "parse_answer": "ethan.parse",
    "prepare_image": "ethan.images",
    "read_predictions": "ethan.results",
    "register_backend": "ethan.backends.base",
    "render_template": "ethan.prompts",
    "reverse": "ethan.geocode.reverse",
    "reverse_many": "ethan.geocode",
    "score": "ethan.eval",
    "unload_models": "ethan.backends.llama_cpp",
    "use_cards": "ethan.card",
    "write_prediction_map": "ethan.eval.maps",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST_NAME)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    else:
        try:
            module = _EXPORTS[name]
        except KeyError:
            raise AttributeError(f"module 'ethan' has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__: str

__all__ = [
    "Aggregate",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "Candidate",
    "ChainGeocoder",
    "Choice",
    "Clue",
    "ClueCategory",
    "ConfigError",
    "ContextTooSmallError",
    "Dataset",
    "DefaultModelUnavailableError",
    "EthanError",
    "Gazetteer",
    "GenerateConfig",
    "Geocoder",
    "Geolocator",
    "Guess",
    "Hypothesis",
    "ImageError",
    "ImagePart",
    "LlamaCppBackend",
    "LlamaCppOptions",
    "Message",
    "Metrics",
    "MissingAPIKeyError",
    "ModelAnswer",
    "ModelOutput",
    "OfflineGeocoder",
    "OllamaBackend",
    "OnlineGeocoder",
    "OpenAIBackend",
    "OpenAIOptions",
    "ParseResult",
    "Place",
    "PointSource",
    "Prediction",
    "PredictionWriter",
    "PreparedImage",
    "Record",
    "ReplayBackend",
    "Resolved",
    "ResponseCache",
    "ReverseGeocoder",
    "Sample",
    "Settings",
    "Status",
    "TemplateError",
    "TextPart",
    "Usage",
    "__version__",
    "aggregate",
    "backend_names",
    "build_messages",
    "compare",
    "create_backend",
    "create_geocoder",
    "default_applies",
    "default_backend",
    "default_geocoder",
    "emit_card",
    "iter_image_files",
    "list_templates",
    "load_candidates",
    "load_dataset",
    "parse_answer",
    "prepare_image",
    "read_predictions",
    "register_backend",
    "render_template",
    "reverse",
    "reverse_many",
    "score",
    "unload_models",
    "use_cards",
    "write_prediction_map",
]
