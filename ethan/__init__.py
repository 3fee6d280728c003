"""ethan: geolocate photos with vision-language models that reason like GeoGuessr experts.

>>> from ethan import Geolocator                                  # doctest: +SKIP
>>> geo = Geolocator("openai", model="gpt-4o")                     # doctest: +SKIP
>>> prediction = geo.locate("photo.jpg")                            # doctest: +SKIP
"""

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
from ethan.backends.openai import OpenAIBackend, OpenAIOptions
from ethan.backends.replay import ReplayBackend
from ethan.baselines.candidates import load_candidates
from ethan.cache import ResponseCache
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
    compare,
    evaluate,
    load_dataset,
    score,
)
from ethan.eval.systems import compare_systems, load_systems
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
    reverse,
    reverse_many,
)
from ethan.identity import KeyIndex, image_key
from ethan.images import PreparedImage, iter_image_files, prepare_image
from ethan.parse import ParseResult, parse_answer
from ethan.pipeline import Geolocator, ImageRequest
from ethan.prompts import build_messages, list_templates, render_template
from ethan.results import DoneKeys, PredictionWriter, read_predictions
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
)
from ethan.version import __version__

__all__ = [
    "Aggregate",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendSpec",
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
    "DoneKeys",
    "EthanError",
    "Evaluation",
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
    "NothingToDoError",
    "OfflineGeocoder",
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
    "__version__",
    "aggregate",
    "alocate_files",
    "backend_names",
    "build_geolocator",
    "build_messages",
    "compare",
    "compare_systems",
    "create_backend",
    "create_geocoder",
    "default_geocoder",
    "evaluate",
    "image_key",
    "iter_image_files",
    "list_templates",
    "load_candidates",
    "load_dataset",
    "load_systems",
    "locate_files",
    "parse_answer",
    "prepare_image",
    "read_predictions",
    "register_backend",
    "render_template",
    "reverse",
    "reverse_many",
    "score",
    "unload_models",
]
