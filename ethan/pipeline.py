"""The stages wired together: image → prompt → backend → parse → geocode → aggregate.

:class:`Geolocator` is the public entry point. ``locate`` handles one image;
``locate_many`` streams predictions for any number of images with bounded concurrency, so
memory stays flat however long the input is.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ethan.aggregate import aggregate, hypothesis_weights
from ethan.backends.base import Backend, GenerateConfig, Message, ModelOutput, create_backend
from ethan.budget import Budget, BudgetExceededError
from ethan.cache import ResponseCache, cache_key
from ethan.errors import AuthenticationError, BackendError, ConfigError, ImageError
from ethan.fields import describe
from ethan.geocode import Gazetteer, Geocoder, default_geocoder, resolve_guesses
from ethan.geocode.mentions import last_resort
from ethan.identity import ImageInput, KeyIndex, image_key
from ethan.images import PreparedImage
from ethan.parse import ParseResult, parse_answer
from ethan.prompts import build_messages
from ethan.rag import Retrieved, Retriever
from ethan.remote import fetch_image, is_url
from ethan.request import ImageRequest
from ethan.spec import Settings
from ethan.types import Candidate, Hypothesis, ModelAnswer, Prediction, Status, Usage
from ethan.verify import Verifier
from ethan.workers import ImageWorkers

__all__ = ["Geolocator", "ImageRequest", "Settings", "make_settings"]


def make_settings(values: Mapping[str, Any]) -> Settings:
    """Settings from keywords; a bad one is a ConfigError naming it."""
    try:
        return Settings.model_validate(dict(values))
    except ValidationError as exc:
        raise ConfigError(describe(exc, "setting ")) from None


#: Threads that parse and geocode answers, so the event loop never waits on them.
INTERPRET_THREADS = 32


class Geolocator:
    """Locate photos with a vision-language model.

    >>> geo = Geolocator("openai", model="gpt-4o")          # doctest: +SKIP
    >>> geo.locate("photo.jpg").lat                          # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend | str = "openai",
        *,
        model: str | None = None,
        backend_options: Mapping[str, Any] | None = None,
        geocoder: Geocoder | None = None,
        cache: ResponseCache | bool = True,
        budget: Budget | None = None,
        candidates: Mapping[str, list[Candidate]] | str | Path | None = None,
        retriever: Retriever | None = None,
        verify: Verifier | bool = False,
        workers: int = 0,
        **settings: Any,
    ) -> None:
        """``workers``: processes that prepare images (0: threads of this process);
        ``retriever`` adds retrieval candidates to each prompt (:mod:`ethan.rag`);
        ``verify`` adds the second pass (:mod:`ethan.verify`; True: the default Verifier);
        ``candidates`` are a baseline's (a predictions file, or already loaded)."""
        if isinstance(candidates, str | Path):
            # a predictions file: recorded in the settings, read on first use
            settings["candidates"] = Path(candidates)
            candidates = None
        if isinstance(backend, str):
            backend = create_backend(backend, model, **dict(backend_options or {}))
        self.backend = backend
        self.settings = make_settings(settings)
        self._candidate_map = candidates
        self.geocoder = geocoder if geocoder is not None else default_geocoder()
        self.cache: ResponseCache | None
        if isinstance(cache, ResponseCache):
            self.cache = cache
        else:
            self.cache = ResponseCache() if cache else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._images = ImageWorkers(workers)
        self._candidate_index: KeyIndex[list[Candidate]] | None = None
        self.budget = budget
        self.retriever = retriever
        self.verifier: Verifier | None = Verifier() if verify is True else verify or None
        if budget is not None:
            budget.check_prices(self.backend.model)

    # -- public API ------------------------------------------------------------------------

    def locate(self, image: ImageInput) -> Prediction:
        """Locate one image (blocking). Inside an event loop, use :meth:`alocate`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("locate() was called inside an event loop; await alocate()")
        if self._loop is None or self._loop.is_closed():
            # One loop for every blocking call, so the backend's connections are reused.
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self.alocate(image))

    def close(self) -> None:
        """Release the backend's connections and the cache (blocking form of aclose)."""
        loop = self._loop or asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.aclose())
        finally:
            loop.close()
            self._loop = None

    def __enter__(self) -> Geolocator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def alocate(self, image: ImageInput) -> Prediction:
        """Locate one image. Problems with this image become a status, never an exception;
        only errors that doom every image (a bad API key) are raised."""
        key = image_key(image)
        try:
            request = await self.prepare(image)
        except ImageError as exc:
            return self.failed(key, exc)
        try:
            output, cached = await self.call(request)
        except AuthenticationError:
            raise
        except BackendError as exc:
            return self.failed(key, exc, request)
        prediction = await self.finish(request, output, cached=cached)
        if self.verifier is not None:
            prediction = await self.verifier.verify(self, request, prediction)
        return prediction

    async def prepare(self, image: ImageInput) -> ImageRequest:
        """Read, clean and encode the image and build its messages (nothing is sent).

        Raises :class:`ImageError` for a problem that belongs to this image alone.
        """
        key = image_key(image)
        started = time.perf_counter()
        source = await fetch_image(image) if is_url(image) else image
        prepared = await self._images.prepare(source, max_side=self.settings.max_side)
        retrieved = None
        if self.retriever is not None:
            retrieved = await asyncio.to_thread(self.retriever.retrieve, prepared, source)
        config = self.generate_config()
        messages, digest = await asyncio.to_thread(
            self._messages_and_key, prepared, key, config, retrieved
        )
        return ImageRequest(
            key=key,
            messages=messages,
            config=config,
            cache_key=digest,
            sha256=prepared.sha256,
            started=started,
            retrieved=retrieved,
        )

    def cached(self, request: ImageRequest) -> ModelOutput | None:
        """The cached answer to this request, if any."""
        if self.cache is None or not request.cache_key:
            return None
        return self.cache.get(request.cache_key)

    def store(self, request: ImageRequest, output: ModelOutput) -> None:
        """Keep an answer in the cache (live calls do this themselves; batch results too)."""
        if self.cache is not None and request.cache_key:
            self.cache.put(request.cache_key, output)

    async def call(self, request: ImageRequest) -> tuple[ModelOutput, bool]:
        """The model's answer to the request, from the cache or the backend; says which."""
        # the cache is SQLite on disk: read and written on a worker thread, not the loop
        hit = await asyncio.to_thread(self.cached, request) if self.cache is not None else None
        if hit is not None:
            return hit, True
        if self.budget is not None:
            self.budget.acquire(self.backend.model)
        output = await self.backend.generate(request.messages, request.config)
        if self.budget is not None:
            self.budget.record(output.usage)
        if self.cache is not None:
            await asyncio.to_thread(self.store, request, output)
        return output, False

    async def finish(
        self, request: ImageRequest, output: ModelOutput, *, cached: bool = False
    ) -> Prediction:
        """Parse, geocode and aggregate off the event loop; the prediction for the request."""
        loop = asyncio.get_running_loop()
        prediction = await loop.run_in_executor(
            self._workers(), functools.partial(self.interpret, output, image=request.key)
        )
        prediction.latency_s = time.perf_counter() - request.started
        prediction.image_sha256 = request.sha256
        prediction.cached = cached
        return prediction

    def failed(self, key: str, exc: Exception, request: ImageRequest | None = None) -> Prediction:
        """The ``error`` prediction for an image whose file or call failed."""
        return Prediction(
            image=key,
            status=Status.ERROR,
            message=str(exc),
            model=self.backend.model if request is not None else None,
            template=self.settings.template if request is not None else None,
            image_sha256=request.sha256 if request is not None else None,
            latency_s=time.perf_counter() - request.started if request is not None else None,
        )

    def _workers(self) -> ThreadPoolExecutor:
        """Threads for parsing and geocoding (an online geocoder may wait on its service)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=INTERPRET_THREADS, thread_name_prefix="ethan-interpret"
            )
        return self._executor

    async def locate_many(
        self, images: Iterable[ImageInput], *, concurrency: int = 8
    ) -> AsyncIterator[Prediction]:
        """Yield a prediction per image as each finishes (not in input order).

        At most ``concurrency`` images are in flight and the input is consumed lazily.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        source = iter(images)
        pending: set[asyncio.Task[Prediction]] = set()
        stopped: BudgetExceededError | None = None
        try:
            while True:
                while stopped is None and len(pending) < concurrency:
                    item = next(source, None)
                    if item is None:
                        break
                    pending.add(asyncio.create_task(self.alocate(item)))
                if not pending:
                    break
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    try:
                        prediction = task.result()
                    except BudgetExceededError as exc:
                        # Start nothing new; what is in flight still finishes and is yielded.
                        stopped = stopped or exc
                        continue
                    yield prediction
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if stopped is not None:
            raise stopped

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.cache is not None:
            self.cache.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._images.close()

    # -- stages ----------------------------------------------------------------------------

    def generate_config(self) -> GenerateConfig:
        s = self.settings
        return GenerateConfig(
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            n=s.samples,
            seed=s.seed,
            json_schema=_answer_schema() if s.structured else None,
        )

    def _messages_and_key(
        self,
        image: PreparedImage,
        key: str,
        config: GenerateConfig,
        retrieved: Retrieved | None = None,
    ) -> tuple[list[Message], str]:
        """The request's messages and its cache key (rendering and hashing: a worker's job)."""
        messages = self._messages(image, key, retrieved)
        if self.cache is None:
            return messages, ""
        return messages, cache_key(self.backend.identity(), messages, config)

    def _messages(
        self, image: PreparedImage, key: str, retrieved: Retrieved | None = None
    ) -> list[Message]:
        s = self.settings
        part = image.part()
        part.name = key
        variables = s.variables
        if self.has_candidates():
            variables = {**variables, "candidates": self.candidates_for(key)}
        if retrieved is not None:
            variables = {**variables, **retrieved.variables()}
        return build_messages(
            s.template,
            part,
            shots=s.shots,
            fewshot_set=s.fewshot_set,
            variables=variables,
            extra_dirs=s.template_dirs,
            max_side=s.max_side,
        )

    def has_candidates(self) -> bool:
        """Whether a baseline's candidates were given (a file or a loaded mapping)."""
        return self.settings.candidates is not None or self._candidate_map is not None

    def candidates_for(self, key: str) -> list[Candidate]:
        """The baseline's candidates for the image ``key`` (none when it has none)."""
        return (self._candidates().find(key) or []) if self.has_candidates() else []

    def _candidates(self) -> KeyIndex[list[Candidate]]:
        if self._candidate_index is None:
            found = self._candidate_map
            if found is None and self.settings.candidates is not None:
                from ethan.baselines.candidates import load_candidates

                found = load_candidates(self.settings.candidates)
            self._candidate_index = KeyIndex(dict(found or {}))
        return self._candidate_index

    def interpret(self, output: ModelOutput, *, image: str) -> Prediction:
        """Parse, geocode and aggregate a model's output into a prediction."""
        parsed = [parse_answer(c.text, c.finish_reason) for c in output.choices]
        hypotheses: list[Hypothesis] = []
        for sample, result in enumerate(parsed):
            if result.status is Status.OK:
                found = resolve_guesses(
                    result.guesses, self.geocoder, sample=sample, reasoning=result.reasoning
                )
                hypotheses.extend(found)
        base: dict[str, Any] = {
            "image": image,
            "raw": [c.text for c in output.choices],
            "finish_reasons": [c.finish_reason for c in output.choices],
            "model": output.model,
            "template": self.settings.template,
            "usage": output.usage if output.usage else Usage(),
            "clues": [clue for r in parsed for clue in r.clues],
        }
        # what the parser noted on the answers used ("cut off; kept the complete fields")
        notes = [r.message for r in parsed if r.status is Status.OK and r.message]
        message = "; ".join(dict.fromkeys(notes))
        if not hypotheses and self.settings.last_resort:
            # no final guess anywhere: the places the reasoning names, unless it refused
            texts = [
                c.text if r.status is not Status.REFUSED else None
                for c, r in zip(output.choices, parsed, strict=True)
            ]
            gazetteer = self.geocoder if isinstance(self.geocoder, Gazetteer) else None
            hypotheses = last_resort(texts, gazetteer or default_geocoder())
            if hypotheses:
                message = "no final answer: a place named in the reasoning (last resort)"
        if not hypotheses:
            status, message = _failure(parsed)
            return Prediction(status=status, message=message, **base)
        weights = hypothesis_weights(hypotheses)
        ranked = [h for _, h in sorted(zip(weights, hypotheses, strict=True), key=lambda p: -p[0])]
        point = aggregate(hypotheses, self.settings.aggregate)
        return Prediction(
            status=Status.OK,
            lat=point.lat,
            lon=point.lon,
            spread_km=point.spread_km,
            radius_km=point.radius_km,
            hypotheses=ranked,
            message=message,
            **base,
        )


def _failure(parsed: Sequence[ParseResult]) -> tuple[Status, str]:
    """Why no sample gave a usable point."""
    if not parsed:
        return Status.UNPARSED, "the model returned no answer"
    if all(r.status is Status.REFUSED for r in parsed):
        return Status.REFUSED, parsed[0].message
    named = [r for r in parsed if r.status is Status.OK]
    if named:
        labels = "; ".join(g.label() for r in named for g in r.guesses if g.label())
        return Status.UNPARSED, f"could not resolve the named place(s) to a point: {labels}"
    return Status.UNPARSED, "; ".join(dict.fromkeys(r.message for r in parsed if r.message))


@functools.cache
def _answer_schema() -> dict[str, Any]:
    """The output contract's JSON schema (built once: pydantic takes ~1 ms to make it)."""
    return ModelAnswer.model_json_schema()
