"""A run as data: one pydantic specification, declared once.

:class:`RunSpec` holds everything that decides a run's answers — the backend and its typed
options, how to ask (:class:`Settings`), the geocoder, the budget, the inputs or the dataset,
how to score, where to write. Each option and its default is written here and nowhere else:
the command-line flags are generated from these fields (:mod:`ethan.cli.flags`), the saved
``run.yaml`` is their dump, and ``--config run.yaml`` reads it back.

Secrets (API keys, tokens, passwords) are never written: :meth:`RunSpec.to_yaml` drops every
option whose name says it is one. The package version and the prompt template's content
hash are written with the specification so a run can be traced and replayed.

>>> spec = RunSpec.model_validate({"backend": {"name": "replay",
...     "options": {"responses": "answers.csv"}}, "settings": {"template": "cot"}})
>>> spec.settings.template
'cot'
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ethan.errors import ConfigError, EthanError
from ethan.fields import cli, describe

Method = Literal["medoid", "top", "mean", "cluster"]
Truth = Literal["manifest", "exif"]
Engine = Literal["local", "batch", "ray"]

#: Option names that hold a secret: never saved, never logged.
SECRET = re.compile(r"(api[_-]?key|token|secret|password|passwd|auth|credential)", re.I)

MODEL_PANEL = "Model and prompt"
GEO_PANEL = "Geocoding"
BUDGET_PANEL = "Budget"
DATA_PANEL = "Dataset"
SCORE_PANEL = "Scoring"
RUN_PANEL = "Run"
RAG_PANEL = "Retrieval and verification"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Settings(_Section):
    """How to ask and how to combine the answers."""

    template: str = Field(
        default="gps",
        description="Prompt template name or .j2 file.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    template_dirs: list[Path] = Field(
        default_factory=list,
        description="Extra folder of templates.",
        json_schema_extra=cli(MODEL_PANEL, flag="--template-dir"),
    )
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Template variable KEY=VALUE (e.g. top_k=5).",
        json_schema_extra=cli(MODEL_PANEL, flag="--var", pairs=True),
    )
    candidates: Path | None = Field(
        default=None,
        description="Predictions file of a baseline (ethan baseline predict, GeoCLIP...): each "
        "image's top-k go to the prompt's 'candidates' (try --template candidates).",
        json_schema_extra=cli(MODEL_PANEL),
    )
    shots: int = Field(
        default=0,
        ge=0,
        description="Few-shot exemplars to include.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    fewshot_set: str = Field(
        default="default",
        description="Few-shot set name or file.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    samples: int = Field(
        default=1,
        ge=1,
        description="Answers to sample per image.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    temperature: float | None = Field(
        default=None, ge=0, description="Sampling temperature.", json_schema_extra=cli(MODEL_PANEL)
    )
    max_tokens: int | None = Field(
        default=2048, ge=1, description="Answer length limit.", json_schema_extra=cli(MODEL_PANEL)
    )
    seed: int | None = Field(
        default=None,
        description="Sampling seed, where supported.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    structured: bool = Field(
        default=True,
        description="Ask the server for JSON following the answer schema.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    max_side: int = Field(
        default=1024,
        ge=64,
        description="Downscale images to this side.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    aggregate: Method = Field(
        default="medoid",
        description="How hypotheses become one point.",
        json_schema_extra=cli(MODEL_PANEL),
    )
    last_resort: bool = Field(
        default=True,
        description="Without a final answer, use the place the reasoning names most "
        "(marked source=mentioned).",
        json_schema_extra=cli(GEO_PANEL),
    )


class BackendSpec(_Section):
    """Which model answers, and the backend's own options (validated by its ``Options``)."""

    name: str | None = Field(
        default=None,
        description="Backend: openai, replay, llama-cpp, ollama, or a plugin's (entry point "
        "group 'ethan.backends') [default: openai with an API key or --base-url, else the "
        "embedded local model].",
        json_schema_extra=cli(MODEL_PANEL, flag="--backend"),
    )
    model: str | None = Field(
        default=None,
        description="Model name on the backend [openai: gpt-4o].",
        json_schema_extra=cli(MODEL_PANEL, flag="--model"),
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend option KEY=VALUE (checked against the backend's options).",
        json_schema_extra=cli(MODEL_PANEL, flag="--option", short="-o", pairs=True),
    )

    def resolved_name(self) -> str:
        """The backend that runs: the one named, else OpenAI when a key or a server URL is
        given (or in the environment), else the embedded local model (``llama-cpp``)."""
        if self.name is not None:
            return self.name
        from ethan.defaults import default_applies

        key = self.options.get("api_key")
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        url = self.options.get("base_url")
        url = ",".join(url) if isinstance(url, list) else url
        local = default_applies(None, base_url=url or None, api_key=secret or None)
        if local and self.model is not None and not _local_model(self.model):
            local = False  # --model gpt-4o with no key: say the key is missing
        return "llama-cpp" if local else "openai"

    def options_model(self) -> type[BaseModel]:
        from ethan.backends.base import backend_options_model

        return backend_options_model(self.resolved_name())

    def checked_options(self, *, as_json: bool = False) -> dict[str, Any]:
        """The options, validated by the backend's ``Options`` (only those that were set)."""
        model = self.options_model()
        known = sorted(model.model_fields)
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown option(s) for the {self.resolved_name()} backend: "
                f"{', '.join(unknown)}; "
                f"valid options: {', '.join(known) or 'none'}"
            )
        try:
            validated = model.model_validate(self.options)
        except ValidationError as exc:
            raise ConfigError(describe(exc, f"{self.resolved_name()} backend option ")) from None
        dumped = validated.model_dump(exclude_unset=True, mode="json" if as_json else "python")
        return {k: v for k, v in dumped.items() if k in self.options}


class RetrievalSpec(_Section):
    """Img2Loc-style retrieval into the prompt and a G3-style second look (:mod:`ethan.rag`,
    :mod:`ethan.verify`)."""

    rag: Path | None = Field(
        default=None,
        description="A gallery (ethan gallery build): each prompt lists the places of the "
        "most similar gallery photos.",
        json_schema_extra=cli(RAG_PANEL),
    )
    rag_k: int = Field(
        default=16, ge=1, description="Neighbours listed per image.",
        json_schema_extra=cli(RAG_PANEL),
    )  # fmt: skip
    rag_negatives: int = Field(
        default=0, ge=0, description="Least similar gallery places, listed as unlikely.",
        json_schema_extra=cli(RAG_PANEL),
    )  # fmt: skip
    verify: bool = Field(
        default=False,
        description="A second request per image that ranks the distinct candidates "
        "(hypotheses, neighbours, --candidates) when there are two or more.",
        json_schema_extra=cli(RAG_PANEL),
    )


class GeocoderSpec(_Section):
    name: str = Field(
        default="offline",
        description="offline, a geopy service (nominatim, photon, pelias, arcgis, googlev3...) "
        "or a chain like offline,nominatim.",
        json_schema_extra=cli(GEO_PANEL, flag="--geocoder"),
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="KEY=VALUE for the geocoder: domain, scheme, api_key, user_agent, timeout, "
        "min_delay_seconds, broad=medoid|centroid, min_city_population=1000...",
        json_schema_extra=cli(GEO_PANEL, flag="--geocoder-option", short="-g", pairs=True),
    )


class BudgetSpec(_Section):
    max_requests: int | None = Field(
        default=None, ge=1, description="Stop after this many model calls.",
        json_schema_extra=cli(BUDGET_PANEL),
    )  # fmt: skip
    max_total_tokens: int | None = Field(
        default=None, ge=1, description="Stop once this many tokens are used.",
        json_schema_extra=cli(BUDGET_PANEL),
    )  # fmt: skip
    max_cost: float | None = Field(
        default=None, gt=0, description="Stop once this many US$ are spent.",
        json_schema_extra=cli(BUDGET_PANEL),
    )  # fmt: skip
    price_in: float | None = Field(
        default=None, ge=0, description="$ per million input tokens.",
        json_schema_extra=cli(BUDGET_PANEL),
    )  # fmt: skip
    price_out: float | None = Field(
        default=None, ge=0, description="$ per million output tokens.",
        json_schema_extra=cli(BUDGET_PANEL),
    )  # fmt: skip


class DatasetSpec(_Section):
    """The benchmark an ``eval`` run goes over (the manifest is the command's argument)."""

    manifest: Path = Field(
        description="Manifest CSV/JSONL, or a photo folder with --truth exif.",
        json_schema_extra=cli(DATA_PANEL, hidden=True),
    )
    images_root: Path | None = Field(
        default=None,
        description="Folder the manifest's image names are in.",
        json_schema_extra=cli(DATA_PANEL),
    )
    preset: str | None = Field(
        default=None, description="Manifest layout (im2gps3k, yfcc4k, osv5m...).",
        json_schema_extra=cli(DATA_PANEL),
    )  # fmt: skip
    truth: Truth = Field(
        default="manifest", description="Where the true coordinates come from.",
        json_schema_extra=cli(DATA_PANEL),
    )  # fmt: skip
    limit: int | None = Field(
        default=None, ge=1, description="Keep the first N images.",
        json_schema_extra=cli(DATA_PANEL),
    )  # fmt: skip
    sample: int | None = Field(
        default=None, ge=1, description="Draw N images at random (--sample-seed).",
        json_schema_extra=cli(DATA_PANEL),
    )  # fmt: skip
    sample_seed: int = Field(
        default=0, description="Seed for --sample.", json_schema_extra=cli(DATA_PANEL)
    )


class ScoringSpec(_Section):
    thresholds_km: list[float] = Field(
        default_factory=lambda: [1.0, 25.0, 200.0, 750.0, 2500.0],
        description="Accuracy thresholds in km (repeatable).",
        json_schema_extra=cli(SCORE_PANEL, flag="--threshold"),
    )
    bootstrap: int = Field(
        default=1000, ge=0, description="Bootstrap resamples for CIs.",
        json_schema_extra=cli(SCORE_PANEL),
    )  # fmt: skip
    bootstrap_seed: int = Field(
        default=0, description="Seed of the bootstrap.", json_schema_extra=cli(SCORE_PANEL)
    )


class Provenance(_Section):
    """Written with every saved specification; ignored when one is read back."""

    ethan_version: str = ""
    template_sha256: str | None = None
    fewshot_sha256: str | None = None
    saved_at: str = ""


class RunSpec(_Section):
    """Everything that decides a run. ``ethan locate/eval`` build one from flags and
    ``--config``; :func:`ethan.locate_files` and :func:`ethan.evaluate` take one."""

    backend: BackendSpec = Field(default_factory=BackendSpec)
    settings: Settings = Field(default_factory=Settings)
    retrieval: RetrievalSpec = Field(default_factory=RetrievalSpec)
    geocoder: GeocoderSpec = Field(default_factory=GeocoderSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    cache: bool = Field(
        default=True, description="Use the on-disk response cache.",
        json_schema_extra=cli(RUN_PANEL),
    )  # fmt: skip
    concurrency: int = Field(
        default=8, ge=1, description="Images in flight at once.", json_schema_extra=cli(RUN_PANEL)
    )
    engine: Engine = Field(
        default="local",
        description="Where the run executes: local (this process), batch (the OpenAI Batch "
        "API: half price, within 24 h; needs --out) or ray (Ray Data actors; ethan-geo[ray]).",
        json_schema_extra=cli(RUN_PANEL),
    )
    poll_interval: float = Field(
        default=60.0, ge=0, description="Seconds between polls of the batch engine.",
        json_schema_extra=cli(RUN_PANEL),
    )  # fmt: skip
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster for --engine ray ('auto', 'ray://head:10001'); none starts a "
        "local one.",
        json_schema_extra=cli(RUN_PANEL),
    )
    actors: int = Field(
        default=2, ge=1, description="Ray actors, each holding one Geolocator (--engine ray).",
        json_schema_extra=cli(RUN_PANEL),
    )  # fmt: skip
    workers: int = Field(
        default=0, ge=0, description="Processes that prepare images (0: threads).",
        json_schema_extra=cli(RUN_PANEL),
    )  # fmt: skip
    inputs: list[str] = Field(
        default_factory=list,
        description="Image files, folders or http(s) URLs (ethan locate).",
        json_schema_extra=cli(RUN_PANEL, hidden=True),
    )
    dataset: DatasetSpec | None = None
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    out: Path | None = Field(
        default=None,
        description="Output: the predictions JSONL (locate) or the run folder (eval).",
        json_schema_extra=cli(RUN_PANEL),
    )
    map: Path | None = Field(
        default=None,
        description="Also draw the answers and their alternatives on an HTML map (the maps "
        "extra).",
        json_schema_extra=cli(RUN_PANEL),
    )
    provenance: Provenance | None = Field(
        default=None, json_schema_extra=cli(RUN_PANEL, hidden=True)
    )

    @model_validator(mode="after")
    def _engine_fits(self) -> RunSpec:
        if self.engine == "batch" and self.retrieval.verify:
            raise ValueError(
                "--verify sends a second request after each first answer; use it with the "
                "local or ray engine, not the Batch API"
            )
        return self

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_as_text(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            return [str(value)]
        return [str(v) for v in value] if isinstance(value, list | tuple) else value

    # -- reading and writing ---------------------------------------------------------------

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, where: str = "") -> RunSpec:
        """Validate a specification; a bad field is a :class:`ConfigError` naming it."""
        try:
            spec = cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(describe(exc, "", where, root=cls)) from None
        spec.backend.checked_options()
        return spec

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        """Read a saved (or hand-written) ``run.yaml``."""
        return cls.parse(read_yaml(Path(path)), where=str(path))

    def to_data(self) -> dict[str, Any]:
        """The specification as plain data, secrets removed."""
        data = self.model_dump(mode="json", exclude={"provenance"})
        data["backend"]["options"] = self.backend.checked_options(as_json=True)
        scrubbed: dict[str, Any] = scrub(data)
        return scrubbed

    def to_yaml(self) -> str:
        data = self.to_data()
        data["provenance"] = self.provenance_now().model_dump(mode="json")
        header = "# ethan run specification; replay it with --config (secrets are not saved)\n"
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> Path:
        """Write the specification atomically; returns the path."""
        from ethan.results import write_atomic

        target = Path(path)
        write_atomic(target, self.to_yaml())
        return target

    def provenance_now(self) -> Provenance:
        from ethan.version import __version__

        return Provenance(
            ethan_version=__version__,
            template_sha256=_template_hash(self.settings),
            fewshot_sha256=_fewshot_hash(self.settings),
            saved_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        )


# ----------------------------------------------------------------------------- helpers


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    data.pop("provenance", None)
    return data


def scrub(value: Any) -> Any:
    """``value`` without any mapping entry whose key names a secret or holds one."""
    if isinstance(value, Mapping):
        return {
            k: scrub(v)
            for k, v in value.items()
            if not SECRET.search(str(k)) and not isinstance(v, SecretStr)
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _local_model(model: str) -> bool:
    """Whether ``--model`` names something the embedded llama.cpp default can run."""
    from ethan.backends.llama_presets import PRESETS

    return model in PRESETS or model.lower().endswith(".gguf") or Path(model).is_file()


def _template_hash(settings: Settings) -> str | None:
    """sha256 of the template's text (and its system companion), when it can be found."""
    try:
        from ethan.prompts import template_files

        files = template_files(settings.template, settings.template_dirs)
    except EthanError:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _fewshot_hash(settings: Settings) -> str | None:
    if not settings.shots:
        return None
    try:
        from ethan.fewshot import fewshot_file

        return hashlib.sha256(fewshot_file(settings.fewshot_set).read_bytes()).hexdigest()
    except (EthanError, OSError):
        return None
