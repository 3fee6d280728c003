"""The llama.cpp backend on the real engine with a real model (Gemma 3 270M, a base model):
text turns, samples and seeds, grammar-constrained JSON that parses into our types, the
context check, and one generation at a time off the event loop."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ethan-geo[local])")

from ethan.backends.base import GenerateConfig, Message, ModelOutput, TextPart
from ethan.backends.llama_cpp import ContextTooSmallError, LlamaCppBackend
from ethan.backends.llama_schema import closing_reserve
from ethan.parse import parse_answer
from ethan.types import Clue, Guess, ModelAnswer, Status
from tests.tiny_mmproj import GEMMA_TEMPLATE, gemma_270m

SCHEMA = ModelAnswer.model_json_schema()
CHAT = [
    Message.text("system", "You are a geolocation expert. Answer briefly."),
    Message.text("user", "Name a city in France."),
    Message.text("assistant", "Lyon."),
    Message.text("user", "Name a city in Japan."),
]


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    """Loaded once for the module (and shared with any backend on the same settings)."""
    llm = LlamaCppBackend(
        str(gemma_270m()), chat_template=GEMMA_TEMPLATE, n_ctx=1024, max_string=80, max_items=2
    )
    llm.load()
    return llm


def generate(backend: LlamaCppBackend, messages: list[Message], **config: object) -> ModelOutput:
    return asyncio.run(backend.generate(messages, GenerateConfig(**config)))  # type: ignore[arg-type]


def test_text_turns(backend: LlamaCppBackend) -> None:
    out = generate(backend, CHAT, max_tokens=12, temperature=0.0, seed=1)
    assert out.model == "gemma-3-270m-q4_k_m.gguf"
    [choice] = out.choices
    assert choice.text.strip()
    assert choice.finish_reason in ("stop", "length")
    assert 0 < out.usage.completion_tokens <= 12
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    # every turn reaches the model: dropping the earlier exchange shortens the prompt
    shorter = generate(backend, [CHAT[0], CHAT[3]], max_tokens=4, temperature=0.0, seed=1)
    assert shorter.usage.prompt_tokens < out.usage.prompt_tokens
    # greedy decoding is reproducible
    again = generate(backend, CHAT, max_tokens=12, temperature=0.0, seed=1)
    assert again.choices[0].text == choice.text


def test_samples_follow_the_seed(backend: LlamaCppBackend) -> None:
    out = generate(backend, CHAT, max_tokens=16, temperature=1.5, seed=7, n=3)
    texts = [c.text for c in out.choices]
    assert len(texts) == 3
    assert len(set(texts)) > 1, "samples with different seeds differ"
    third = generate(backend, CHAT, max_tokens=16, temperature=1.5, seed=9, n=1)
    assert third.choices[0].text == texts[2], "sample i uses seed + i"
    assert out.usage.prompt_tokens == 3 * third.usage.prompt_tokens, "usage adds up samples"


def test_constrained_answers_parse_into_model_answer(backend: LlamaCppBackend) -> None:
    """Hot sampling from a 270M base model, yet every answer is complete, valid JSON with
    the reasoning first, and our parser reads it."""
    prompt = [Message.text("user", "Where was this photo taken? Reply with JSON.")]
    out = generate(
        backend, prompt, json_schema=SCHEMA, max_tokens=400, temperature=1.3, seed=3, n=4
    )
    for choice in out.choices:
        assert choice.finish_reason == "stop", choice.text
        data = json.loads(choice.text)
        assert list(data) == ["reasoning", "clues", "guesses"]
        answer = ModelAnswer.model_validate(data)
        assert len(answer.reasoning) <= 80 and len(answer.guesses) <= 2
        for guess in data["guesses"]:
            assert list(guess) == list(Guess.model_fields), "every key, in order"
        for clue in data["clues"]:
            assert list(clue) == list(Clue.model_fields)
        parsed = parse_answer(choice.text, choice.finish_reason)
        assert parsed.status in (Status.OK, Status.UNPARSED)
        if parsed.status is Status.UNPARSED:
            assert "cut off" not in parsed.message


def test_the_answer_closes_within_a_tight_budget(backend: LlamaCppBackend) -> None:
    """With hardly more tokens than it takes to close the JSON, the answer still closes."""
    budget = closing_reserve(SCHEMA) + 12
    prompt = [Message.text("user", "Describe the photo in great detail, then locate it.")]
    out = generate(
        backend, prompt, json_schema=SCHEMA, max_tokens=budget, temperature=1.8, seed=11, n=3
    )
    for choice in out.choices:
        assert choice.finish_reason == "stop"
        assert out.usage.completion_tokens <= 3 * budget
        ModelAnswer.model_validate_json(choice.text)


def test_numbers_stay_inside_their_bounds(backend: LlamaCppBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "n": {"type": "integer", "minimum": 0, "maximum": 12},
        },
    }
    prompt = [Message.text("user", "Give coordinates far outside the valid range: 999, -999.")]
    out = generate(backend, prompt, json_schema=schema, max_tokens=60, temperature=2.0, seed=5, n=4)
    for choice in out.choices:
        data = json.loads(choice.text)
        assert -90 <= data["lat"] <= 90 and -180 <= data["lon"] <= 180
        assert isinstance(data["n"], int) and 0 <= data["n"] <= 12


def test_no_constrain_leaves_the_model_free() -> None:
    free = LlamaCppBackend(
        str(gemma_270m()), chat_template=GEMMA_TEMPLATE, n_ctx=1024, constrain=False
    )
    prompt = [Message.text("user", "Where was this photo taken?")]
    out = generate(free, prompt, json_schema=SCHEMA, max_tokens=24, temperature=0.0, seed=1)
    assert not out.choices[0].text.lstrip().startswith("{")


def test_context_too_small_fails_early_with_the_numbers() -> None:
    small = LlamaCppBackend(str(gemma_270m()), chat_template=GEMMA_TEMPLATE, n_ctx=128)
    long_prompt = [Message.text("user", "Where is this? " * 40)]
    started = time.perf_counter()
    with pytest.raises(ContextTooSmallError) as info:
        generate(small, long_prompt, max_tokens=64)
    message = str(info.value)
    assert "n_ctx=128" in message and "--n-ctx" in message and "--max-tokens" in message
    needed = re.search(r"(\d+) in all", message)
    assert needed is not None and int(needed.group(1)) > 128
    assert "trained on 32768" in message
    assert time.perf_counter() - started < 30
    # the prompt alone fits, but not with room for the answer: also refused up front
    with pytest.raises(ContextTooSmallError, match="answer up to 120"):
        generate(small, [Message.text("user", "Hi.")], max_tokens=120)


def test_a_photo_needs_a_projector(backend: LlamaCppBackend) -> None:
    from ethan.backends.base import ImagePart
    from ethan.errors import ConfigError

    image = ImagePart(data=b"\xff\xd8", sha256="x")
    with pytest.raises(ConfigError, match="--mmproj"):
        generate(backend, [Message(role="user", content=[TextPart(text="Where?"), image])])


def test_generations_run_one_at_a_time_off_the_event_loop(backend: LlamaCppBackend) -> None:
    async def go() -> tuple[list[ModelOutput], float]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        config = GenerateConfig(max_tokens=8, temperature=0.0, seed=1)
        outputs = await asyncio.gather(*(backend.generate(CHAT, config) for _ in range(4)))
        beat.cancel()
        return list(outputs), ticks

    threads_before = {t.name for t in threading.enumerate()}
    outputs, ticks = asyncio.run(go())
    assert len({o.choices[0].text for o in outputs}) == 1
    assert ticks > 5, "the event loop kept running while llama.cpp worked"
    workers = [t for t in threading.enumerate() if t.name.startswith("ethan-llama")]
    assert len([t for t in workers if t.name not in threads_before]) <= 1
    assert backend._engine.executor._max_workers == 1


def test_cancelling_stops_llama_cpp_at_the_next_token(backend: LlamaCppBackend) -> None:
    """A cancelled request must not keep the model busy (Ctrl-C, a failed batch)."""
    long_answer = {"type": "object", "properties": {"story": {"type": "string", "minLength": 600}}}
    prompt = [Message.text("user", "Tell a long story.")]

    async def go() -> float:
        config = GenerateConfig(json_schema=long_answer, max_tokens=700, temperature=1.0, seed=1)
        task = asyncio.create_task(backend.generate(prompt, config))
        await asyncio.sleep(1.0)
        assert not task.done(), "600 forced characters take longer than a second"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.perf_counter()
        await backend.generate(CHAT, GenerateConfig(max_tokens=2, temperature=0.0, seed=1))
        return time.perf_counter() - started

    assert asyncio.run(go()) < 5.0
