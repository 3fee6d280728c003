"""ethan: geolocate photos with vision-language models that reason like GeoGuessr experts.

>>> from ethan import Geolocator                                  # doctest: +SKIP
>>> geo = Geolocator("openai", model="gpt-4o")                     # doctest: +SKIP
>>> prediction = geo.locate("photo.jpg")                            # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ethan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
from ethan.baselines.candidates import Candidate, load_candidates
from ethan.cache import ResponseCache
from ethan.errors import (
    AuthenticationError,
    BackendError,
    ConfigError,
    EthanError,
    ImageError,
    MissingAPIKeyError,
    TemplateError,
)
from ethan.eval import Dataset, Metrics, Record, Sample, compare, load_dataset, score
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
    reverse,
    reverse_many,
)
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
    "check_point",
    "compare",
    "create_backend",
    "create_geocoder",
    "default_geocoder",
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
]
