"""Verification: a second look at the photo with every distinct candidate gathered so far.

G3 verifies its candidate coordinates with a second multimodal pass, and GeoRanker ranks
candidates with the model; this module does both in one request per photo. The options are
every hypothesis of every first-pass sample, the ``--candidates`` of another system and the
retrieved gallery places (:mod:`ethan.rag`), deduplicated within :data:`DEDUPE_KM`. The
model ranks them with probabilities or proposes a better place (:class:`VerifyAnswer`, the
``verify`` template), and the final point is the top of that ranking. With fewer than two
distinct options there is nothing to choose between and no second request is sent.

The request goes through :meth:`Geolocator.call`, so it is cached and budgeted like any
other; the prediction keeps the first pass (``raw``, ``hypotheses``) and records the second
in ``prediction.verification``. A second pass that fails or cannot be read leaves the first
pass's point in place, with the reason in ``verification.message``: never a made-up point.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ethan.aggregate import aggregate
from ethan.backends.base import GenerateConfig, ImagePart, Message, ModelOutput
from ethan.cache import cache_key
from ethan.errors import AuthenticationError, BackendError
from ethan.geo import haversine_km
from ethan.geocode import Geocoder, resolve_guesses
from ethan.parse import parse_answer
from ethan.parse.jsonish import find_candidates
from ethan.parse.shapes import extract, norm_key
from ethan.parse.values import parse_probability, valid_point
from ethan.prompts import build_messages, schema_lines
from ethan.types import (
    Hypothesis,
    PointSource,
    Prediction,
    Status,
    Usage,
    Verification,
    VerifyChoice,
    VerifyOption,
)

if TYPE_CHECKING:
    from ethan.baselines.candidates import Candidate
    from ethan.pipeline import Geolocator, ImageRequest
    from ethan.rag import Retrieved

DEDUPE_KM = 1.0
TEMPLATE = "verify"
_RANK_KEYS = frozenset({"ranking", "ranked", "rankings", "rank", "order", "choices", "ordering"})
_NUMBER_KEYS = ("candidate", "number", "option", "choice", "index", "id", "candidate_number")
_PROB_KEYS = ("probability", "prob", "p", "likelihood", "confidence", "score")
_DIGITS = re.compile(r"\d+")


class VerifyPick(BaseModel):
    """One entry of the verification answer: a listed candidate, or a new place."""

    model_config = ConfigDict(extra="ignore")

    candidate: int | None = Field(
        default=None, description="the number of a listed candidate, or null for a new place"
    )
    lat: float | None = Field(default=None, ge=-90, le=90, description="a new place only")
    lon: float | None = Field(default=None, ge=-180, le=180, description="a new place only")
    city: str | None = Field(default=None, description="a new place only")
    country: str | None = Field(default=None, description="a new place only")
    probability: float | None = Field(default=None, ge=0, le=1)


class VerifyAnswer(BaseModel):
    """The output contract of the verification pass."""

    model_config = ConfigDict(extra="ignore")

    reasoning: str = Field(
        default="", description="brief: the clues that support or rule out each candidate"
    )
    ranking: list[VerifyPick] = Field(default_factory=list, description="best first")


@functools.cache
def verify_contract() -> str:
    lines = schema_lines(VerifyAnswer)
    lines.append(
        'Rank only places the photo fits, best first. Each "probability" is your chance that '
        "the photo was taken there, and together they add up to at most 1. For a listed "
        'candidate give its number and leave "lat", "lon", "city" and "country" null; for a '
        'better place not on the list write "candidate": null and its coordinates.'
    )
    return "\n".join(lines)


@functools.cache
def _schema() -> dict[str, Any]:
    return VerifyAnswer.model_json_schema()


def describe(option: VerifyOption) -> str:
    """The line the template shows for an option."""
    where = f"lat {option.lat:.3f}, lon {option.lon:.3f}"
    text = f"{option.name} ({where})" if option.name else f"({where})"
    origin = {"answer": "a first look at this photo", "retrieved": "a similar gallery photo",
              "candidate": "another system"}.get(option.origin, option.origin)  # fmt: skip
    return f"{text}, from {origin}"


def gather_options(
    prediction: Prediction,
    candidates: Iterable[Candidate] = (),
    retrieved: Retrieved | None = None,
    *,
    dedupe_km: float = DEDUPE_KM,
    limit: int | None = None,
) -> list[VerifyOption]:
    """The distinct places so far: first-pass hypotheses (best first), then the given
    candidates, then the retrieved neighbours; one within ``dedupe_km`` of an earlier one
    is dropped."""
    found: list[VerifyOption] = [
        VerifyOption(lat=h.lat, lon=h.lon, name=h.label() or None, origin="answer",
                     probability=h.probability)
        for h in prediction.hypotheses
    ]  # fmt: skip
    found += [
        VerifyOption(lat=c.lat, lon=c.lon, name=c.name, origin="candidate",
                     probability=c.probability)
        for c in candidates
    ]  # fmt: skip
    if retrieved is not None:
        found += [
            VerifyOption(lat=c.lat, lon=c.lon, name=c.name, origin="retrieved")
            for c in retrieved.neighbours
        ]
    kept: list[VerifyOption] = []
    for option in found:
        if kept and _nearest(kept, option.lat, option.lon)[1] <= dedupe_km:
            continue
        kept.append(option)
        if limit is not None and len(kept) >= limit:
            break
    return kept


def _nearest(options: Sequence[VerifyOption], lat: float, lon: float) -> tuple[int, float]:
    lats = np.asarray([o.lat for o in options], dtype=np.float64)
    lons = np.asarray([o.lon for o in options], dtype=np.float64)
    d = np.asarray(haversine_km(lat, lon, lats, lons), dtype=np.float64).reshape(-1)
    best = int(np.argmin(d))
    return best, float(d[best])


# --------------------------------------------------------------------------- reading


def read_ranking(
    text: str,
    options: Sequence[VerifyOption],
    geocoder: Geocoder,
    *,
    finish_reason: str | None = None,
    dedupe_km: float = DEDUPE_KM,
) -> tuple[Status, str, list[VerifyChoice]]:
    """The ranking a verification answer gives (best first), tolerant of its shape: a
    ``ranking`` list of numbers or objects, else any location answer the parser reads
    (matched to an option within ``dedupe_km``)."""
    entries = _ranking_entries(text)
    notes: list[str] = []
    picks: list[VerifyChoice] = []
    if entries is not None:
        for entry in entries:
            pick = _pick(entry, options, geocoder, dedupe_km)
            if isinstance(pick, str):
                notes.append(pick)
            else:
                picks.append(pick)
    else:
        parsed = parse_answer(text, finish_reason)
        if parsed.status is not Status.OK:
            return parsed.status, parsed.message, []
        for h in resolve_guesses(parsed.guesses, geocoder):
            picks.append(_choice(h.lat, h.lon, h.probability, options, dedupe_km, h.label()))
        notes.append("no ranking list; read the answer's guesses")
    picks = _distinct(picks)
    if not picks:
        reason = "; ".join(dict.fromkeys(notes)) or "the ranking names no usable place"
        return Status.UNPARSED, reason, []
    if len(picks) > 1 and all(p.probability is not None for p in picks):
        picks.sort(key=lambda p: -(p.probability or 0.0))  # stable: ties keep the order
    return Status.OK, "; ".join(dict.fromkeys(notes)), picks


def _ranking_entries(text: str) -> list[Any] | None:
    """The entries of the last JSON value that holds a ranking list."""
    for candidate in reversed(find_candidates(text or "")):
        value = candidate.value
        if isinstance(value, dict):
            for key, item in value.items():
                if norm_key(key) in _RANK_KEYS and isinstance(item, list):
                    return item
        elif (
            value
            and all(isinstance(v, (dict, int)) for v in value)
            and any(isinstance(v, int) or _number(v) is not None for v in value)
        ):
            return value
    return None


def _number(entry: Any) -> int | None:
    value: Any = entry
    if isinstance(entry, dict):
        lowered = {norm_key(k): v for k, v in entry.items()}
        value = next((lowered[k] for k in _NUMBER_KEYS if lowered.get(k) is not None), None)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _DIGITS.search(value)
        return int(match[0]) if match else None
    return None


def _pick(
    entry: Any, options: Sequence[VerifyOption], geocoder: Geocoder, dedupe_km: float
) -> VerifyChoice | str:
    probability = None
    if isinstance(entry, dict):
        lowered = {norm_key(k): v for k, v in entry.items()}
        raw = next((lowered[k] for k in _PROB_KEYS if lowered.get(k) is not None), None)
        probability = parse_probability(raw) if raw is not None else None
    number = _number(entry)
    if number is not None and 1 <= number <= len(options):
        option = options[number - 1]
        return VerifyChoice(lat=option.lat, lon=option.lon, probability=probability,
                            option=number - 1, name=option.name)  # fmt: skip
    if not isinstance(entry, dict):
        return f"candidate {entry!r} is not on the list"
    place = {k: v for k, v in entry.items() if norm_key(k) not in _NUMBER_KEYS}
    guesses = [g for g in extract(place).guesses if g.has_point() or g.has_name()]
    for h in resolve_guesses(guesses[:1], geocoder):
        if valid_point(h.lat, h.lon):
            return _choice(h.lat, h.lon, probability, options, dedupe_km, h.label())
    if number is not None:
        return f"candidate {number} is not on the list"
    return "a ranking entry names no candidate and no place"


def _choice(
    lat: float,
    lon: float,
    probability: float | None,
    options: Sequence[VerifyOption],
    dedupe_km: float,
    name: str | None,
) -> VerifyChoice:
    """A place; an option's own when it lies within ``dedupe_km`` of one."""
    best, km = _nearest(options, lat, lon) if options else (-1, float("inf"))
    if km <= dedupe_km:
        option = options[best]
        return VerifyChoice(lat=option.lat, lon=option.lon, probability=probability,
                            option=best, name=option.name)  # fmt: skip
    return VerifyChoice(lat=lat, lon=lon, probability=probability, name=name or None)


def _distinct(picks: list[VerifyChoice]) -> list[VerifyChoice]:
    seen: set[object] = set()
    out = []
    for pick in picks:
        key = pick.option if pick.option is not None else (round(pick.lat, 4), round(pick.lon, 4))
        if key not in seen:
            seen.add(key)
            out.append(pick)
    return out


# --------------------------------------------------------------------------- the pass


class Verifier:
    """Runs the second pass for a :class:`~ethan.pipeline.Geolocator` (``verify=True``).

    ``template`` is looked up like any prompt template (the Geolocator's template folders
    first); ``limit`` caps how many options are listed (None: all of them).
    """

    def __init__(
        self,
        *,
        template: str = TEMPLATE,
        dedupe_km: float = DEDUPE_KM,
        limit: int | None = None,
        min_options: int = 2,
    ) -> None:
        self.template = template
        self.dedupe_km = dedupe_km
        self.limit = limit
        self.min_options = max(2, min_options)

    def describe(self) -> dict[str, Any]:
        """What a run's recorded configuration should say about the verification."""
        return {"template": self.template, "dedupe_km": self.dedupe_km, "limit": self.limit}

    def options(
        self, geo: Geolocator, request: ImageRequest, prediction: Prediction
    ) -> list[VerifyOption]:
        given = geo.candidates_for(request.key)
        return gather_options(
            prediction, given, request.retrieved, dedupe_km=self.dedupe_km, limit=self.limit
        )

    async def verify(
        self, geo: Geolocator, request: ImageRequest, prediction: Prediction
    ) -> Prediction:
        """The prediction after the second pass (unchanged when there is nothing to rank)."""
        options = self.options(geo, request, prediction)
        if len(options) < self.min_options:
            return prediction
        second = await asyncio.to_thread(self.request, geo, request, options)
        try:
            output, cached = await geo.call(second)
        except AuthenticationError:
            raise
        except BackendError as exc:
            failed = Verification(status=Status.ERROR, message=str(exc), options=options)
            return self._record(prediction, request, failed)
        loop = asyncio.get_running_loop()
        work = functools.partial(self.apply, geo, prediction, request, options, output, cached)
        return await loop.run_in_executor(geo._workers(), work)

    def request(
        self, geo: Geolocator, first: ImageRequest, options: list[VerifyOption]
    ) -> ImageRequest:
        """The second request: the same photo, the numbered options, the ranking contract."""
        from ethan.request import ImageRequest

        s = geo.settings
        image = _image_of(first.messages)
        variables = {
            **s.variables,
            "verify_options": [describe(o) for o in options],
            "output_contract": verify_contract(),
        }
        messages = build_messages(
            self.template, image, variables=variables, extra_dirs=s.template_dirs,
            max_side=s.max_side,
        )  # fmt: skip
        config = GenerateConfig(
            temperature=s.temperature, max_tokens=s.max_tokens, n=1, seed=s.seed,
            json_schema=_schema() if s.structured else None, schema_name="verification",
        )  # fmt: skip
        digest = "" if geo.cache is None else cache_key(geo.backend.identity(), messages, config)
        return ImageRequest(
            key=first.key, messages=messages, config=config, cache_key=digest,
            sha256=first.sha256, started=first.started, retrieved=first.retrieved,
        )  # fmt: skip

    def apply(
        self,
        geo: Geolocator,
        prediction: Prediction,
        request: ImageRequest,
        options: list[VerifyOption],
        output: ModelOutput,
        cached: bool,
    ) -> Prediction:
        """Read the second answer and move the prediction's point to its choice."""
        choice = output.choices[0] if output.choices else None
        text = choice.text if choice is not None else ""
        finish = choice.finish_reason if choice is not None else None
        status, message, ranking = read_ranking(
            text, options, geo.geocoder, finish_reason=finish, dedupe_km=self.dedupe_km
        )
        if choice is None:
            status, message = Status.UNPARSED, "the model returned no answer"
        record = Verification(
            status=status, message=message, options=options, ranking=ranking,
            chosen=ranking[0].option if ranking else None, raw=text, finish_reason=finish,
            usage=output.usage or Usage(), cached=cached,
        )  # fmt: skip
        return self._record(prediction, request, record)

    def _record(
        self, prediction: Prediction, request: ImageRequest, record: Verification
    ) -> Prediction:
        first = {"first_lat": prediction.lat, "first_lon": prediction.lon}
        record = record.model_copy(update=first)
        update: dict[str, Any] = {
            "verification": record,
            "usage": prediction.usage + record.usage,
            "latency_s": time.perf_counter() - request.started,
        }
        if record.status is Status.OK and record.ranking:
            point = aggregate([_hypothesis(c) for c in record.ranking], "top")
            update.update(lat=point.lat, lon=point.lon, spread_km=point.spread_km,
                          radius_km=point.radius_km, status=Status.OK)  # fmt: skip
            if prediction.status is not Status.OK:
                update["message"] = (
                    f"first pass {prediction.status.value} ({prediction.message}); "
                    "the point comes from the verification"
                )
        return prediction.model_copy(update=update)


def _hypothesis(choice: VerifyChoice) -> Hypothesis:
    return Hypothesis(lat=choice.lat, lon=choice.lon, probability=choice.probability,
                      source=PointSource.STATED, place=choice.name)  # fmt: skip


def _image_of(messages: Sequence[Message]) -> ImagePart:
    """The photo of a first-pass request (in its last user message)."""
    for message in reversed(messages):
        for part in message.content:
            if isinstance(part, ImagePart):
                return part
    raise ValueError("the request carries no image")
