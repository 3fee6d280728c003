"""Pydantic models shared by every stage: the contract between them.

Two families live here:

* the *answer schema* (:class:`ModelAnswer`, :class:`Guess`, :class:`Clue`) is what we ask a
  model to write. The same classes render the prompt's output contract, drive constrained
  decoding and validate the parse, so prompt and parser cannot drift apart;
* the *result types* (:class:`Hypothesis`, :class:`Prediction`, :class:`Usage`) are what the
  framework hands back, one :class:`Prediction` per image, one JSON line each in files.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Status(str, Enum):
    """Outcome of one image. Only ``ok`` carries coordinates."""

    OK = "ok"
    REFUSED = "refused"
    UNPARSED = "unparsed"
    ERROR = "error"


class PointSource(str, Enum):
    """How a hypothesis got its point."""

    STATED = "stated"  # the model wrote coordinates
    GEOCODED = "geocoded"  # resolved from a place name (city, landmark...)
    CENTROID = "centroid"  # representative point of a broad area (region, country, continent)
    # a place named in the reasoning: the last resort when there is no final answer, or a
    # broad guess (a country, a state) narrowed to the place inside it the reasoning names
    MENTIONED = "mentioned"


class ClueCategory(str, Enum):
    ARCHITECTURE = "architecture"
    VEGETATION = "vegetation"
    LANGUAGE = "language"  # signs, scripts, text
    ROAD = "road"  # markings, bollards, signage design, driving side
    VEHICLES = "vehicles"
    CLIMATE = "climate"  # sky, sun, season, terrain, landscape
    INFRASTRUCTURE = "infrastructure"  # poles, wires, street furniture
    CULTURE = "culture"  # people, clothing, commerce
    LANDMARK = "landmark"
    OTHER = "other"


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Clue(_Loose):
    """One observation from the image and what it suggests."""

    category: ClueCategory = ClueCategory.OTHER
    observation: str = Field(description="what is visible in the photo")
    implication: str | None = Field(default=None, description="what it suggests about the location")

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            for member in ClueCategory:
                if key == member.value or key.startswith(member.value[:4]):
                    return member
            return ClueCategory.OTHER
        return value


class Guess(_Loose):
    """One hierarchical location guess as a model writes it, from broad to specific."""

    continent: str | None = None
    country: str | None = None
    country_code: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code")
    region: str | None = Field(default=None, description="state, province or prefecture")
    city: str | None = Field(default=None, description="city, town or village")
    place: str | None = Field(default=None, description="street, district or landmark")
    lat: float | None = Field(default=None, ge=-90, le=90, description="decimal degrees")
    lon: float | None = Field(default=None, ge=-180, le=180, description="decimal degrees")
    probability: float | None = Field(default=None, ge=0, le=1)

    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def has_name(self) -> bool:
        return any((self.place, self.city, self.region, self.country, self.continent))

    def label(self) -> str:
        """The names of this guess joined from the specific to the general."""
        parts = [self.place, self.city, self.region, self.country or self.country_code]
        return ", ".join(p for p in parts if p) or (self.continent or "")


class ModelAnswer(_Loose):
    """The output contract: what every prompt asks the model to end with.

    ``reasoning`` comes first so that under constrained decoding the model still thinks
    before it commits to an answer.
    """

    reasoning: str = Field(default="", description="the step-by-step reasoning, brief")
    clues: list[Clue] = Field(default_factory=list, description="what was seen, by category")
    guesses: list[Guess] = Field(
        default_factory=list, description="best guess first, then alternatives"
    )


class Usage(_Loose):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class Hypothesis(Guess):
    """A guess after geocoding: it always has a point and says where the point came from."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    source: PointSource
    level: str | None = Field(
        default=None, description="what a geocoded name resolved to: place, city, region..."
    )
    sample: int = Field(default=0, description="which model sample it came from")
    check: str | None = Field(
        default=None,
        description="set when the point contradicts the named country: 'repaired: ...' (a "
        "sign flip or lat/lon swap put it inside), 'replaced: ...' (the names were geocoded "
        "instead), 'outside: ...' (kept, nothing fits), 'misfit: ...' (the names matched "
        "outside the country)",
    )


class VerifyOption(BaseModel):
    """One distinct candidate shown to the verification pass (numbered from 1 there)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    name: str | None = None
    origin: str = Field(description="answer (first pass), retrieved (gallery) or candidate")
    probability: float | None = Field(default=None, ge=0, le=1)


class VerifyChoice(BaseModel):
    """One place of the verification ranking, best first."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    probability: float | None = Field(default=None, ge=0, le=1)
    option: int | None = Field(
        default=None, description="index into the options (0-based); None: a new place"
    )
    name: str | None = None


class Verification(BaseModel):
    """The second pass (``verify``): the options listed, what the model answered and chose.

    When ``status`` is ``ok`` the prediction's point, ``spread_km`` and ``radius_km`` come
    from ``ranking``; its ``hypotheses`` and ``raw`` stay those of the first pass, whose point
    is kept in ``first_lat``/``first_lon``. Otherwise the first pass's point stands.
    """

    status: Status
    message: str = ""
    options: list[VerifyOption] = Field(default_factory=list)
    ranking: list[VerifyChoice] = Field(default_factory=list)
    chosen: int | None = Field(
        default=None, description="index of the option chosen; None when a new place won"
    )
    first_lat: float | None = Field(default=None, ge=-90, le=90)
    first_lon: float | None = Field(default=None, ge=-180, le=180)
    raw: str = ""
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False


class Prediction(BaseModel):
    """Everything known about one image after the pipeline ran."""

    model_config = ConfigDict(extra="ignore")

    image: str
    id: str | None = Field(default=None, description="the dataset's id for the image, in evals")
    status: Status
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    message: str = ""
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    clues: list[Clue] = Field(default_factory=list)
    spread_km: float | None = Field(
        default=None, description="weighted mean distance of the hypotheses from the answer"
    )
    radius_km: float | None = Field(
        default=None, description="radius around the answer holding 90% of the weight"
    )
    raw: list[str] = Field(default_factory=list, description="the model's text, per sample")
    finish_reasons: list[str | None] = Field(default_factory=list)
    model: str | None = None
    template: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    image_sha256: str | None = None
    cached: bool = False
    verification: Verification | None = Field(
        default=None, description="the second pass, when one ran (usage above counts both)"
    )

    @model_validator(mode="after")
    def _point_matches_status(self) -> Prediction:
        has_point = self.lat is not None and self.lon is not None
        if self.status is Status.OK and not has_point:
            raise ValueError("a prediction with status 'ok' needs lat and lon")
        if self.status is not Status.OK and (self.lat is not None or self.lon is not None):
            raise ValueError(f"a prediction with status {self.status.value!r} has no point")
        return self

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json_line(self) -> str:
        return self.model_dump_json(exclude_none=False) + "\n"


class Candidate(BaseModel):
    """One proposed location for a prompt. ``str()`` gives the line a template shows."""

    model_config = ConfigDict(frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    probability: float | None = Field(default=None, ge=0, le=1)
    name: str | None = Field(default=None, description="region, country (offline names)")
    source: str | None = Field(default=None, description="the system that proposed it")

    def __str__(self) -> str:
        where = f"{_coordinate(self.lat, 'N', 'S')}, {_coordinate(self.lon, 'E', 'W')}"
        text = f"{self.name} ({where})" if self.name else where
        if self.probability is not None:
            text += f", probability {self.probability:.2f}"
        return text


def _coordinate(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.2f}°{positive if value >= 0 else negative}"
