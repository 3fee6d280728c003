"""Turn a model's raw text into structured guesses, never raising on odd text.

>>> result = parse_answer('I think Paris. {"lat": 48.8566, "long": 2.3522, "city": "Paris"}')
>>> result.status.value, result.guesses[0].city, result.guesses[0].lat
('ok', 'Paris', 48.8566)

Attempts, in order:

1. JSON anywhere in the text (fenced, bare or inside prose), loaded tolerantly
   (:mod:`ethan.parse.jsonish`) and normalised from many shapes (:mod:`ethan.parse.shapes`);
   the last complete object with a usable location wins;
2. coordinates and labelled names in plain text (:mod:`ethan.parse.text`), and failing
   those a "City, Country" named in running text;
3. otherwise the text is classified: cut off, refused or simply not understood.

A coordinate is never invented: a missing, unreadable or out-of-range latitude or longitude
leaves the guess without a point (its names stay, for the geocoder to resolve later).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ethan.parse.jsonish import Candidate, find_candidates
from ethan.parse.shapes import Extracted, extract
from ethan.parse.text import clues_from_text, place_in_prose, read_text, refusal
from ethan.types import Clue, Guess, Status

__all__ = ["ParseResult", "parse_answer"]

_MAX_REASONING = 4000
_MAX_TEXT = 200_000  # longer answers are read from their end, where the final answer is
_THINK_END = re.compile(r"</think(?:ing)?>", re.IGNORECASE)


class ParseResult(BaseModel):
    """What a model's text says: status, guesses best first, clues and reasoning."""

    status: Status
    guesses: list[Guess] = Field(default_factory=list)
    clues: list[Clue] = Field(default_factory=list)
    reasoning: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def parse_answer(text: str | None, finish_reason: str | None = None) -> ParseResult:
    """Parse one raw model answer. Never raises and never returns ``Status.ERROR``.

    ``status`` is ``ok`` when at least one guess has a point or a name, ``refused`` when
    the model declined (or the provider's content filter stopped it), ``unparsed``
    otherwise; ``message`` then says why.
    """
    try:
        return _parse(text if isinstance(text, str) else "", (finish_reason or "").lower())
    except Exception as exc:  # a parser bug must not take a whole run down
        return ParseResult(
            status=Status.UNPARSED, message=f"parser failed: {type(exc).__name__}: {exc}"
        )


def _parse(text: str, finish: str) -> ParseResult:
    if len(text) > _MAX_TEXT:
        text = text[-_MAX_TEXT:]
    if finish == "content_filter":
        return ParseResult(
            status=Status.REFUSED,
            reasoning=_cap(text),
            message="answer blocked by the content filter (finish_reason=content_filter)",
        )
    if not text.strip():
        if finish == "length":
            return ParseResult(
                status=Status.UNPARSED,
                message="answer cut off (finish_reason=length) before any text",
            )
        return ParseResult(status=Status.UNPARSED, message="empty answer")

    bodies = [text]
    ends = list(_THINK_END.finditer(text))
    if ends and text[ends[-1].end() :].strip():
        bodies.insert(0, text[ends[-1].end() :])  # the answer after the thinking first

    fallback: tuple[Candidate, Extracted] | None = None
    said_unknown = False
    for body in bodies:
        chosen = _choose(find_candidates(body))
        if chosen is None and "**" in body:  # JSON with every line in markdown bold
            chosen = _choose(find_candidates(body.replace("**", "")))
        if chosen is not None:
            candidate, extracted = chosen
            guesses = _usable(extracted.guesses)
            if guesses:
                return _ok(body, candidate, extracted, guesses, finish)
            fallback = fallback or chosen
        plain = read_text(body)
        if plain.guess is not None:
            clues = (chosen[1].clues if chosen else []) or clues_from_text(body)
            return ParseResult(
                status=Status.OK, guesses=[plain.guess], clues=clues, reasoning=_cap(body)
            )
        said_unknown = said_unknown or plain.said_unknown
        named = place_in_prose(body)
        if named is not None and fallback is None:
            return ParseResult(
                status=Status.OK,
                guesses=[named],
                clues=clues_from_text(body),
                reasoning=_cap(body),
                message="no JSON or coordinates; took the place named in the text",
            )

    clues = (fallback[1].clues if fallback else []) or clues_from_text(text)
    reasoning = _reasoning(text, *fallback) if fallback else _cap(text)

    def fail(status: Status, message: str) -> ParseResult:
        return ParseResult(status=status, clues=clues, reasoning=reasoning, message=message)

    if finish == "length":
        return fail(
            Status.UNPARSED, "answer cut off (finish_reason=length) before any location was given"
        )
    if fallback is not None and not fallback[0].complete:
        return fail(Status.UNPARSED, "answer cut off inside its JSON before a full location")
    snippet = refusal(bodies[0])
    if snippet is not None:
        return fail(Status.REFUSED, f"model refused: {snippet}")
    if (fallback is not None and fallback[1].location_keys) or said_unknown:
        return fail(
            Status.UNPARSED, "model gave no location: every location field is empty or unknown"
        )
    if fallback is not None:
        return fail(Status.UNPARSED, "JSON found but it names no location")
    return fail(Status.UNPARSED, "no JSON object or coordinates found")


def _usable(guesses: list[Guess]) -> list[Guess]:
    """Guesses with a point or a name, duplicates dropped, best first."""
    seen: set[tuple[object, ...]] = set()
    out: list[Guess] = []
    for guess in guesses:
        if not (guess.has_point() or guess.has_name()):
            continue
        key = tuple(guess.model_dump(exclude={"probability"}).values())
        if key in seen:
            continue
        seen.add(key)
        out.append(guess)
    if len(out) > 1 and all(g.probability is not None for g in out):
        out.sort(key=lambda g: -(g.probability or 0.0))  # stable: ties keep the model's order
    return out


def _choose(candidates: list[Candidate]) -> tuple[Candidate, Extracted] | None:
    """The last complete object with a usable guess, else the best of what there is."""
    evaluated = [(c, extract(c.value)) for c in candidates]
    for want_complete in (True, False):
        for candidate, extracted in reversed(evaluated):
            if (candidate.complete or not want_complete) and _usable(extracted.guesses):
                return candidate, extracted
    for candidate, extracted in reversed(evaluated):
        if extracted.location_keys:
            return candidate, extracted
    return evaluated[-1] if evaluated else None


def _ok(
    body: str, candidate: Candidate, extracted: Extracted, guesses: list[Guess], finish: str
) -> ParseResult:
    message = ""
    if not candidate.complete:
        message = "answer cut off inside its JSON; kept the fields that were complete"
        if finish == "length":
            message = "answer cut off (finish_reason=length); kept the complete JSON fields"
    return ParseResult(
        status=Status.OK,
        guesses=guesses,
        clues=extracted.clues or clues_from_text(body[: candidate.start]),
        reasoning=_reasoning(body, candidate, extracted),
        message=message,
    )


def _reasoning(body: str, candidate: Candidate, extracted: Extracted) -> str:
    """The JSON's own reasoning text, else the prose before the JSON, else an outline."""
    if extracted.reasoning:
        return _cap(extracted.reasoning)
    before = re.sub(r"```[a-zA-Z]*\s*$", "", body[: candidate.start]).strip()
    return _cap(before or extracted.outline)


def _cap(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_REASONING else text[: _MAX_REASONING - 1].rstrip() + "…"
