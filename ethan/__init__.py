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

from ethan.version import DISTRIBUTION as DIST_NAME
from ethan.version import __version__

if TYPE_CHECKING:
    from ethan.aggregate import (
        Aggregate,
        aggregate,
    )
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
    from ethan.backends.endpoints import (
        EndpointStats,
        endpoint_stats,
    )
    from ethan.backends.llama_cpp import (
        ContextTooSmallError,
        LlamaCppBackend,
        LlamaCppOptions,
        unload_models,
    )
    from ethan.backends.ollama import (
        OllamaBackend,
    )
    from ethan.backends.openai import (
        OpenAIBackend,
        OpenAIOptions,
    )
    from ethan.backends.replay import (
        ReplayBackend,
    )
    from ethan.baselines.candidates import (
        load_candidates,
    )
    from ethan.batch import (
        BatchInfo,
        BatchLimits,
        BatchProgress,
        BatchState,
        BatchSummary,
        locate_batch,
        state_path_for,
    )
    from ethan.batch.progress import (
        BatchDisplay,
    )
    from ethan.cache import (
        ResponseCache,
    )
    from ethan.card import (
        emit_card,
        use_cards,
    )
    from ethan.defaults import (
        DefaultModelUnavailableError,
        default_applies,
        default_backend,
    )
    from ethan.engines.ray import (
        RayOptions,
        locate_dataset,
        locate_to_file,
    )
    from ethan.errors import (
        AuthenticationError,
        BackendError,
        ConfigError,
        EthanError,
        ImageError,
        MissingAPIKeyError,
        NothingToDoError,
        TemplateError,
    )
    from ethan.eval import (
        Dataset,
        Evaluation,
        Metrics,
        Record,
        Sample,
        evaluate,
        load_dataset,
        score,
    )
    from ethan.eval.compare import (
        compare,
    )
    from ethan.eval.maps import (
        write_prediction_map,
    )
    from ethan.eval.systems import (
        compare_systems,
        load_systems,
    )
    from ethan.gallery import (
        Gallery,
        GalleryWriter,
    )
    from ethan.geocode import (
        ChainGeocoder,
        Gazetteer,
        Geocoder,
        OfflineGeocoder,
        OnlineGeocoder,
        Place,
        PointCheck,
        Resolved,
        ReverseGeocoder,
        check_point,
        create_geocoder,
        default_geocoder,
        reverse_many,
    )
    from ethan.geocode.reverse import (
        reverse,
    )
    from ethan.identity import (
        KeyIndex,
        image_key,
    )
    from ethan.images import (
        PreparedImage,
        iter_image_files,
        prepare_image,
    )
    from ethan.parse import (
        ParseResult,
        parse_answer,
    )
    from ethan.pipeline import (
        Geolocator,
        ImageRequest,
    )
    from ethan.prompts import (
        build_messages,
        list_templates,
        render_template,
    )
    from ethan.rag import (
        GalleryRetriever,
        Neighbour,
        Retrieved,
        Retriever,
        build_gallery,
    )
    from ethan.results import (
        DoneKeys,
        PredictionWriter,
        read_predictions,
    )
    from ethan.runs import (
        RunObserver,
        RunResult,
        alocate_files,
        build_geolocator,
        locate_files,
    )
    from ethan.spec import (
        BackendSpec,
        BudgetSpec,
        DatasetSpec,
        GeocoderSpec,
        RunSpec,
        ScoringSpec,
        Settings,
    )
    from ethan.types import (
        Candidate,
        Clue,
        ClueCategory,
        Guess,
        Hypothesis,
        ModelAnswer,
        PointSource,
        Prediction,
        Status,
        Usage,
        Verification,
        VerifyChoice,
        VerifyOption,
    )
    from ethan.verify import (
        Verifier,
        VerifyAnswer,
    )

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Aggregate": "ethan.aggregate",
    "AuthenticationError": "ethan.errors",
    "Backend": "ethan.backends.base",
    "BackendError": "ethan.errors",
    "BackendSpec": "ethan.spec",
    "BatchDisplay": "ethan.batch.progress",
    "BatchInfo": "ethan.batch",
    "BatchLimits": "ethan.batch",
    "BatchProgress": "ethan.batch",
    "BatchState": "ethan.batch",
    "BatchSummary": "ethan.batch",
    "BudgetSpec": "ethan.spec",
    "Candidate": "ethan.types",
    "ChainGeocoder": "ethan.geocode",
    "Choice": "ethan.backends.base",
    "Clue": "ethan.types",
    "ClueCategory": "ethan.types",
    "ConfigError": "ethan.errors",
    "ContextTooSmallError": "ethan.backends.llama_cpp",
    "Dataset": "ethan.eval",
    "DatasetSpec": "ethan.spec",
    "DefaultModelUnavailableError": "ethan.defaults",
    "DoneKeys": "ethan.results",
    "EndpointStats": "ethan.backends.endpoints",
    "EthanError": "ethan.errors",
    "Evaluation": "ethan.eval",
    "Gallery": "ethan.gallery",
    "GalleryRetriever": "ethan.rag",
    "GalleryWriter": "ethan.gallery",
    "Gazetteer": "ethan.geocode",
    "GenerateConfig": "ethan.backends.base",
    "Geocoder": "ethan.geocode",
    "GeocoderSpec": "ethan.spec",
    "Geolocator": "ethan.pipeline",
    "Guess": "ethan.types",
    "Hypothesis": "ethan.types",
    "ImageError": "ethan.errors",
    "ImagePart": "ethan.backends.base",
    "ImageRequest": "ethan.pipeline",
    "KeyIndex": "ethan.identity",
    "LlamaCppBackend": "ethan.backends.llama_cpp",
    "LlamaCppOptions": "ethan.backends.llama_cpp",
    "Message": "ethan.backends.base",
    "Metrics": "ethan.eval",
    "MissingAPIKeyError": "ethan.errors",
    "ModelAnswer": "ethan.types",
    "ModelOutput": "ethan.backends.base",
    "Neighbour": "ethan.rag",
    "NothingToDoError": "ethan.errors",
    "OfflineGeocoder": "ethan.geocode",
    "OllamaBackend": "ethan.backends.ollama",
    "OnlineGeocoder": "ethan.geocode",
    "OpenAIBackend": "ethan.backends.openai",
    "OpenAIOptions": "ethan.backends.openai",
    "ParseResult": "ethan.parse",
    "Place": "ethan.geocode",
    "PointCheck": "ethan.geocode",
    "PointSource": "ethan.types",
    "Prediction": "ethan.types",
    "PredictionWriter": "ethan.results",
    "PreparedImage": "ethan.images",
    "RayOptions": "ethan.engines.ray",
    "Record": "ethan.eval",
    "ReplayBackend": "ethan.backends.replay",
    "Resolved": "ethan.geocode",
    "ResponseCache": "ethan.cache",
    "Retrieved": "ethan.rag",
    "Retriever": "ethan.rag",
    "ReverseGeocoder": "ethan.geocode",
    "RunObserver": "ethan.runs",
    "RunResult": "ethan.runs",
    "RunSpec": "ethan.spec",
    "Sample": "ethan.eval",
    "ScoringSpec": "ethan.spec",
    "Settings": "ethan.spec",
    "Status": "ethan.types",
    "TemplateError": "ethan.errors",
    "TextPart": "ethan.backends.base",
    "Usage": "ethan.types",
    "Verification": "ethan.types",
    "Verifier": "ethan.verify",
    "VerifyAnswer": "ethan.verify",
    "VerifyChoice": "ethan.types",
    "VerifyOption": "ethan.types",
    "aggregate": "ethan.aggregate",
    "alocate_files": "ethan.runs",
    "backend_names": "ethan.backends.base",
    "build_gallery": "ethan.rag",
    "build_geolocator": "ethan.runs",
    "build_messages": "ethan.prompts",
    "check_point": "ethan.geocode",
    "compare": "ethan.eval.compare",
    "compare_systems": "ethan.eval.systems",
    "create_backend": "ethan.backends.base",
    "create_geocoder": "ethan.geocode",
    "default_applies": "ethan.defaults",
    "default_backend": "ethan.defaults",
    "default_geocoder": "ethan.geocode",
    "emit_card": "ethan.card",
    "endpoint_stats": "ethan.backends.endpoints",
    "evaluate": "ethan.eval",
    "image_key": "ethan.identity",
    "iter_image_files": "ethan.images",
    "list_templates": "ethan.prompts",
    "load_candidates": "ethan.baselines.candidates",
    "load_dataset": "ethan.eval",
    "load_systems": "ethan.eval.systems",
    "locate_batch": "ethan.batch",
    "locate_dataset": "ethan.engines.ray",
    "locate_files": "ethan.runs",
    "locate_to_file": "ethan.engines.ray",
    "parse_answer": "ethan.parse",
    "prepare_image": "ethan.images",
    "read_predictions": "ethan.results",
    "register_backend": "ethan.backends.base",
    "render_template": "ethan.prompts",
    "reverse": "ethan.geocode.reverse",
    "reverse_many": "ethan.geocode",
    "score": "ethan.eval",
    "state_path_for": "ethan.batch",
    "unload_models": "ethan.backends.llama_cpp",
    "use_cards": "ethan.card",
    "write_prediction_map": "ethan.eval.maps",
}


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'ethan' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DIST_NAME",
    "Aggregate",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendSpec",
    "BatchDisplay",
    "BatchInfo",
    "BatchLimits",
    "BatchProgress",
    "BatchState",
    "BatchSummary",
    "BudgetSpec",
    "Candidate",
    "ChainGeocoder",
    "Choice",
    "Clue",
    "ClueCategory",
    "ConfigError",
    "ContextTooSmallError",
    "Dataset",
    "DatasetSpec",
    "DefaultModelUnavailableError",
    "DoneKeys",
    "EndpointStats",
    "EthanError",
    "Evaluation",
    "Gallery",
    "GalleryRetriever",
    "GalleryWriter",
    "Gazetteer",
    "GenerateConfig",
    "Geocoder",
    "GeocoderSpec",
    "Geolocator",
    "Guess",
    "Hypothesis",
    "ImageError",
    "ImagePart",
    "ImageRequest",
    "KeyIndex",
    "LlamaCppBackend",
    "LlamaCppOptions",
    "Message",
    "Metrics",
    "MissingAPIKeyError",
    "ModelAnswer",
    "ModelOutput",
    "Neighbour",
    "NothingToDoError",
    "OfflineGeocoder",
    "OllamaBackend",
    "OnlineGeocoder",
    "OpenAIBackend",
    "OpenAIOptions",
    "ParseResult",
    "Place",
    "PointCheck",
    "PointSource",
    "Prediction",
    "PredictionWriter",
    "PreparedImage",
    "RayOptions",
    "Record",
    "ReplayBackend",
    "Resolved",
    "ResponseCache",
    "Retrieved",
    "Retriever",
    "ReverseGeocoder",
    "RunObserver",
    "RunResult",
    "RunSpec",
    "Sample",
    "ScoringSpec",
    "Settings",
    "Status",
    "TemplateError",
    "TextPart",
    "Usage",
    "Verification",
    "Verifier",
    "VerifyAnswer",
    "VerifyChoice",
    "VerifyOption",
    "__version__",
    "aggregate",
    "alocate_files",
    "backend_names",
    "build_gallery",
    "build_geolocator",
    "build_messages",
    "check_point",
    "compare",
    "compare_systems",
    "create_backend",
    "create_geocoder",
    "default_applies",
    "default_backend",
    "default_geocoder",
    "emit_card",
    "endpoint_stats",
    "evaluate",
    "image_key",
    "iter_image_files",
    "list_templates",
    "load_candidates",
    "load_dataset",
    "load_systems",
    "locate_batch",
    "locate_dataset",
    "locate_files",
    "locate_to_file",
    "parse_answer",
    "prepare_image",
    "read_predictions",
    "register_backend",
    "render_template",
    "reverse",
    "reverse_many",
    "score",
    "state_path_for",
    "unload_models",
    "use_cards",
    "write_prediction_map",
]
