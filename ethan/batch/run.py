"""Run a set of images through the OpenAI Batch API: the library side of ``--batch``.

:func:`locate_batch` builds each image's request with the same code as a live call
(:meth:`Geolocator.prepare`), skips what the response cache already answers, writes one JSONL
line per image and sample, uploads the files, creates the batches, polls them, and turns
every result line into the same :class:`Prediction` a live call gives (the same cache entry,
parse, geocode and aggregate). Failed, expired and cancelled requests go into one follow-up
batch (``retries``), then become ``error`` predictions carrying the API's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ethan.backends.base import ModelOutput
from ethan.backends.openai import RETRYABLE, OpenAIBackend
from ethan.batch.api import BatchClient, BatchInfo, openai_backend
from ethan.batch.lines import PartWriter, ResultLine, read_results, request_line
from ethan.batch.state import BatchLimits, BatchState, ImageEntry, PartEntry, RequestEntry
from ethan.budget import BudgetExceededError, batch_prices, usage_cost
from ethan.errors import BackendError, ConfigError, ImageError, InvalidResponseError
from ethan.identity import ImageInput, image_key
from ethan.pipeline import Geolocator, ImageRequest
from ethan.types import Prediction, Usage

log = logging.getLogger(__name__)

Sink = Callable[[Prediction], None]
#: Polls in a row that may fail (after the client's own retries) before the run gives up.
POLL_TROUBLES = 10
#: Result lines interpreted at once (parse and geocode run on the Geolocator's threads).
CHUNK = 256


class BatchView(BaseModel):
    """One batch as the progress display shows it."""

    id: str | None
    part: str
    attempt: int
    status: str
    completed: int = 0
    failed: int = 0
    total: int = 0


class BatchProgress(BaseModel):
    """A snapshot for ``on_progress``: the phase, the images and every batch's state."""

    phase: str = Field(description="preparing, submitting, polling, collecting or done")
    images: int
    done: int
    batches: list[BatchView]


class BatchSummary(BaseModel):
    """What one call of :func:`locate_batch` did."""

    images: int = 0
    predictions: int = 0
    statuses: Counter[str] = Field(default_factory=Counter)
    cached: int = 0
    retried: int = Field(default=0, description="requests sent again in a follow-up batch")
    uploads: int = Field(default=0, description="input files uploaded by this call")
    created: int = Field(default=0, description="batches created by this call")
    batches: list[str] = Field(default_factory=list, description="every batch id of the run")
    usage: Usage = Field(default_factory=Usage)
    cost: float | None = Field(default=None, description="US dollars at batch prices")
    state_path: str = ""


async def locate_batch(
    geo: Geolocator,
    images: Iterable[ImageInput],
    sink: Sink,
    *,
    state_path: str | Path,
    resume: bool = False,
    poll_interval: float = 60.0,
    limits: BatchLimits | None = None,
    retries: int = 1,
    concurrency: int = 8,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> BatchSummary:
    """Locate ``images`` through the Batch API; ``sink`` gets one prediction per image.

    ``state_path`` (``state_path_for(out)``) is written before polling starts. With
    ``resume=True`` an existing state is continued: its batches are polled again and nothing
    already uploaded is uploaded again. Pass the images not yet in the output (as the live
    path does): only those get predictions. The Geolocator is not closed.
    """
    if poll_interval < 0 or retries < 0 or concurrency < 1:
        raise ConfigError("poll_interval and retries must be >= 0 and concurrency >= 1")
    run = _BatchRun(
        geo, sink, Path(state_path), limits or BatchLimits(), retries, concurrency, on_progress
    )
    return await run.run(list(images), resume=resume, poll_interval=poll_interval)


class _BatchRun:
    def __init__(
        self,
        geo: Geolocator,
        sink: Sink,
        state_path: Path,
        limits: BatchLimits,
        retries: int,
        concurrency: int,
        on_progress: Callable[[BatchProgress], None] | None,
    ) -> None:
        self.geo = geo
        self.backend: OpenAIBackend = openai_backend(geo.backend)
        if limits.max_requests < geo.settings.samples:
            raise ConfigError("a batch file must hold at least one image's samples")
        self.client = BatchClient(self.backend)
        self.sink = sink
        self.state_path = state_path
        self.limits = limits
        self.retries = retries
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.summary = BatchSummary(state_path=str(state_path))
        self.wanted: Counter[str] = Counter()
        self.inputs: dict[str, ImageInput] = {}
        self.emitted: set[str] = set()
        self.stopped: BudgetExceededError | None = None
        self.carried: set[str] = set()
        self.state = BatchState(model=self.backend.model, base_url=self.backend.base_url)
        if geo.budget is not None:
            geo.budget.batch = True

    # -- the run ------------------------------------------------------------------------

    async def run(
        self, images: list[ImageInput], *, resume: bool, poll_interval: float
    ) -> BatchSummary:
        for image in images:
            key = image_key(image)
            self.wanted[key] += 1
            self.inputs.setdefault(key, image)
        self.summary.images = len(images)
        self._open(resume)
        self.spool = self.state.spool_dir(self.state_path)
        await self._emit_cached_from_state()
        await self._spool_new()
        await self._submit_all()
        await self._poll(poll_interval)
        for key in self.wanted:
            # never lose an image silently (e.g. its request was dropped from the state)
            if key not in self.emitted and (self.stopped is None or key in self.state.images):
                self._emit(self.geo.failed(key, BackendError("the batch gave no result")))
        self.state.finished = not self.state.in_flight()
        await self._save()
        if self.state.finished:
            await asyncio.to_thread(shutil.rmtree, self.spool, True)
        self.summary.batches = [p.batch_id for p in self.state.parts if p.batch_id]
        budget = self.geo.budget
        model = self.backend.model
        prices = budget.prices(model) if budget is not None else batch_prices(model)
        self.summary.cost = usage_cost(self.summary.usage, prices)
        self._progress("done")
        if self.stopped is not None:
            raise self.stopped
        return self.summary

    def _open(self, resume: bool) -> None:
        path = self.state_path
        if not path.exists():
            return
        old = BatchState.load(path)
        if not resume:
            if not old.finished:
                raise ConfigError(
                    f"{path} holds a batch run that has not finished; pass --resume to "
                    f"continue it, or cancel its batches (ethan batch cancel --state {path} "
                    "--all) and delete the file"
                )
            return
        same = old.model == self.backend.model and old.base_url == self.backend.base_url
        if old.finished and not same:
            return  # nothing of it is in flight: a new run for the other model
        if not same:
            raise ConfigError(
                f"{path} was made for {old.model} at {old.base_url}, not {self.backend.model} "
                f"at {self.backend.base_url}"
            )
        self.state = old
        self.state.finished = False
        self.carried = {p.name for p in old.parts if p.batch_id is None}

    async def _save(self) -> None:
        await asyncio.to_thread(self.state.save, self.state_path)

    def _progress(self, phase: str) -> None:
        if self.on_progress is None:
            return
        views = [
            BatchView(
                id=p.batch_id,
                part=p.name,
                attempt=p.attempt,
                status=p.status,
                completed=p.completed,
                failed=p.failed,
                total=p.total or len(p.custom_ids),
            )
            for p in self.state.parts
        ]
        done = sum(self.wanted[k] for k in self.emitted)
        self.on_progress(
            BatchProgress(phase=phase, images=self.summary.images, done=done, batches=views)
        )

    # -- predictions --------------------------------------------------------------------

    def _emit(self, prediction: Prediction) -> None:
        key = prediction.image
        if key in self.emitted or key not in self.wanted:
            return
        self.emitted.add(key)
        for copy in range(self.wanted[key]):
            one = prediction if copy == 0 else prediction.model_copy(deep=True)
            self.sink(one)
            self.summary.predictions += 1
            self.summary.statuses[one.status.value] += 1
            if one.cached:
                self.summary.cached += 1

    def _request_from_state(self, key: str) -> ImageRequest:
        entry = self.state.images[key]
        age = max(0.0, time.time() - entry.prepared_at)
        return ImageRequest(
            key=key,
            messages=[],
            config=self.geo.generate_config(),
            cache_key=entry.cache_key,
            sha256=entry.sha256,
            started=time.perf_counter() - age,
        )

    async def _emit_cached_from_state(self) -> None:
        """On resume: images the cache already answers (a batch collected, not written);
        images whose requests all ended without reaching the output are sent again."""
        for key in list(self.state.images):
            if key not in self.wanted or key in self.emitted:
                continue
            request = self._request_from_state(key)
            hit = self.geo.cached(request)
            if hit is not None:
                self._emit(await self.geo.finish(request, hit, cached=True))
                continue
            ids = self.state.images[key].custom_ids
            if all(self.state.requests[c].state in ("done", "failed") for c in ids):
                self.state.forget(key)

    # -- writing and submitting ---------------------------------------------------------

    def _body(self, request: ImageRequest, sample: int) -> dict[str, Any]:
        body = self.backend.request_body(request.messages, request.config, 1)
        if sample and request.config.seed is not None:
            body["seed"] = request.config.seed + sample  # n lines, n different samples
        return body

    def _lines(self, request: ImageRequest, ids: list[str], samples: list[int]) -> list[bytes]:
        return [request_line(i, self._body(request, s)) for i, s in zip(ids, samples, strict=True)]

    async def _prepared(
        self, keys: list[str]
    ) -> AsyncGenerator[tuple[str, ImageRequest | ImageError], None]:
        """(key, ImageRequest | ImageError) in order, ``concurrency`` prepared at once."""
        window: deque[tuple[str, asyncio.Task[ImageRequest]]] = deque()
        source = iter(keys)
        try:
            while True:
                while len(window) < self.concurrency:
                    key = next(source, None)
                    if key is None:
                        break
                    window.append((key, asyncio.create_task(self.geo.prepare(self.inputs[key]))))
                if not window:
                    return
                key, task = window.popleft()
                try:
                    yield key, await task
                except ImageError as exc:
                    yield key, exc
        finally:
            for _, task in window:
                task.cancel()

    async def _spool_new(self) -> None:
        """Build, cache-check and write the requests of images the state does not hold."""
        todo = [k for k in self.wanted if k not in self.state.images and k not in self.emitted]
        if not todo:
            return
        self._progress("preparing")
        prefix = f"{self.state.run_id}-part"
        writer = PartWriter(self.spool, prefix, self.limits, first=len(self.state.parts) + 1)
        pending: dict[str, ImageEntry] = {}
        async with contextlib.aclosing(self._prepared(todo)) as prepared:
            async for key, request in prepared:
                if isinstance(request, ImageError):
                    self._emit(self.geo.failed(key, request))
                    continue
                hit = self.geo.cached(request)
                if hit is not None:
                    self._emit(await self.geo.finish(request, hit, cached=True))
                    continue
                if self.geo.budget is not None:
                    try:
                        self.geo.budget.acquire(self.backend.model)
                    except BudgetExceededError as exc:
                        self.stopped = exc
                        break
                number = self.state.next_image + len(pending)
                ids = [f"r{number}-s{sample}" for sample in range(request.config.n)]
                lines = await asyncio.to_thread(
                    self._lines, request, ids, list(range(request.config.n))
                )
                if writer.too_big(lines):
                    error = ImageError(f"{key}: its request is larger than a batch file may be")
                    self._emit(self.geo.failed(key, error, request))
                    continue
                if not writer.fits(lines):
                    await self._close_part(writer, pending, attempt=1)
                    pending = {}
                await asyncio.to_thread(writer.add, ids, lines)
                pending[key] = ImageEntry(
                    cache_key=request.cache_key,
                    sha256=request.sha256,
                    samples=request.config.n,
                    prepared_at=time.time() - (time.perf_counter() - request.started),
                    custom_ids=ids,
                )
        await self._close_part(writer, pending, attempt=1)

    async def _close_part(
        self, writer: PartWriter, entries: dict[str, ImageEntry], *, attempt: int
    ) -> None:
        """Record a finished input file in the state, then upload it and create its batch."""
        closed = await asyncio.to_thread(writer.close)
        if closed is None:
            return
        name, custom_ids = closed
        self.state.next_image += len(entries)
        for key, entry in entries.items():
            self.state.images[key] = entry
            for sample, custom_id in enumerate(entry.custom_ids):
                self.state.requests[custom_id] = RequestEntry(key=key, sample=sample)
        for custom_id in custom_ids:
            request = self.state.requests[custom_id]
            request.attempts += 1
            request.state = "submitted"
        part = PartEntry(name=name, custom_ids=custom_ids, attempt=attempt)
        self.state.parts.append(part)
        await self._save()
        await self._submit(part)

    async def _submit(self, part: PartEntry) -> None:
        """Upload the part's file and create its batch, saving the state after each."""
        # A part carried over from a killed process may have been uploaded, or its batch
        # created, just before the kill and after the last save: find those, never redo them.
        carried = part.name in self.carried
        path = self.spool / part.name
        if part.file_id is None:
            found = await self.client.find_file(part.name) if carried else None
            if found is None and not path.exists():
                self._requeue(part)  # its file was lost before the upload: send it again
                return
            if found is None:
                found = await self.client.upload(path)
                self.summary.uploads += 1
            part.file_id = found
            part.status = "uploaded"
            await self._save()
        await asyncio.to_thread(path.unlink, True)
        if part.batch_id is None:
            metadata = {"ethan_run": self.state.run_id, "ethan_part": part.name}
            info = None
            if carried:
                info = await self.client.find_batch(metadata, since=self.state.created_at - 60)
            if info is None:
                info = await self.client.create(part.file_id, metadata)
                self.summary.created += 1
            part.batch_id = info.id
            self._update(part, info)
            await self._save()
        self._progress("submitting")

    def _requeue(self, part: PartEntry) -> None:
        log.warning("the input file %s is gone and was never uploaded; sending it again", part.name)
        self.state.parts.remove(part)
        for custom_id in part.custom_ids:
            request = self.state.requests[custom_id]
            request.attempts -= 1
            request.state = "pending"

    async def _submit_all(self) -> None:
        for part in list(self.state.parts):
            if part.batch_id is None:
                await self._submit(part)

    # -- polling and collecting ---------------------------------------------------------

    def _update(self, part: PartEntry, info: BatchInfo) -> bool:
        before = (part.status, part.completed, part.failed, part.total)
        part.status = info.status
        part.completed, part.failed, part.total = info.completed, info.failed, info.total
        part.output_file_id = info.output_file_id
        part.error_file_id = info.error_file_id
        part.errors = info.errors
        return before != (part.status, part.completed, part.failed, part.total)

    async def _poll(self, poll_interval: float) -> None:
        troubles = 0
        while True:
            changed = False
            try:
                for part in self.state.in_flight():
                    changed |= self._update(part, await self.client.retrieve(str(part.batch_id)))
                troubles = 0
            except RETRYABLE as exc:
                # a batch runs for hours: a passing outage costs a poll, not the run
                troubles += 1
                if troubles >= POLL_TROUBLES:
                    raise
                log.warning("could not read the batches (%s); trying again next poll", exc)
            if changed:
                await self._save()
            self._progress("polling")
            for part in self.state.parts:
                if part.terminal and not part.collected:
                    self._progress("collecting")
                    await self._collect(part)
            await self._resubmit()
            if all(p.collected for p in self.state.parts):
                return
            await asyncio.sleep(poll_interval)

    async def _collect(self, part: PartEntry) -> None:
        """Handle every request of a finished batch, then mark it collected."""
        seen: set[str] = set()
        ours = set(part.custom_ids)
        with tempfile.TemporaryDirectory(dir=self.state_path.parent) as folder:
            for file_id in (part.output_file_id, part.error_file_id):
                if file_id is None:
                    continue
                path = await self.client.download(file_id, Path(folder) / f"{file_id}.jsonl")
                lines = read_results(path)
                while chunk := await asyncio.to_thread(_take, lines, CHUNK):
                    mine = [r for r in chunk if r.custom_id in ours and r.custom_id not in seen]
                    seen.update(r.custom_id for r in mine)
                    await asyncio.gather(*(self._result(r) for r in mine))
        reason = "; ".join(part.errors) or f"no result for this request in the {part.status} batch"
        missing = [c for c in part.custom_ids if c not in seen]
        await asyncio.gather(*(self._result(ResultLine(c, None, reason)) for c in missing))
        part.collected = True
        await self._save()

    async def _result(self, result: ResultLine) -> None:
        request = self.state.requests.get(result.custom_id)
        if request is None or request.state != "submitted":
            return  # not ours, or already handled by an earlier attempt
        output: ModelOutput | None = None
        error = result.error
        if result.body is not None:
            try:
                output = self.backend.output_from_completion(result.body)
            except InvalidResponseError as exc:
                error = str(exc)
        if output is None:
            tries = "1 attempt" if request.attempts == 1 else f"{request.attempts} attempts"
            request.error = f"{error or 'no answer'} (after {tries})"
            request.state = "pending" if request.attempts <= self.retries else "failed"
            if request.state == "failed":
                await self._fail(request.key, request.error)
            return
        request.state = "done"
        request.error = None
        self.state.partial[result.custom_id] = output
        await self._maybe_finish(request.key)

    async def _maybe_finish(self, key: str) -> None:
        entry = self.state.images[key]
        states = [self.state.requests[c].state for c in entry.custom_ids]
        if "failed" in states:  # the image was already reported as failed
            for custom_id in entry.custom_ids:
                self.state.partial.pop(custom_id, None)
            return
        if any(state != "done" for state in states):
            return
        outputs = [self.state.partial.pop(c) for c in entry.custom_ids]
        usage = Usage()
        for one in outputs:
            usage = usage + one.usage
        combined = ModelOutput(
            model=outputs[0].model, choices=[c for o in outputs for c in o.choices], usage=usage
        )
        request = self._request_from_state(key)
        self.geo.store(request, combined)
        self.summary.usage = self.summary.usage + usage
        if self.geo.budget is not None:
            self.geo.budget.record(usage)
        if key in self.wanted and key not in self.emitted:
            self._emit(await self.geo.finish(request, combined, cached=False))

    async def _fail(self, key: str, message: str) -> None:
        for custom_id in self.state.images[key].custom_ids:
            self.state.partial.pop(custom_id, None)
        request = self._request_from_state(key)
        self._emit(self.geo.failed(key, BackendError(message), request))

    async def _resubmit(self) -> None:
        """Put every request waiting for a retry into follow-up batch files."""
        waiting: dict[str, list[str]] = {}
        for custom_id, entry in self.state.requests.items():
            if entry.state == "pending":
                waiting.setdefault(entry.key, []).append(custom_id)
        if not waiting:
            return
        prefix = f"{self.state.run_id}-retry"
        writer = PartWriter(self.spool, prefix, self.limits, first=len(self.state.parts) + 1)
        keys = [k for k in waiting if k in self.inputs]
        for key in waiting:
            if key not in self.inputs:  # not asked for in this call: give it up quietly
                for custom_id in waiting[key]:
                    self.state.requests[custom_id].state = "failed"
        attempt = 1 + max(self.state.requests[c].attempts for ids in waiting.values() for c in ids)
        async with contextlib.aclosing(self._prepared(keys)) as prepared:
            async for key, request in prepared:
                if isinstance(request, ImageError):
                    for custom_id in waiting[key]:
                        self.state.requests[custom_id].state = "failed"
                    await self._fail(key, str(request))
                    continue
                if request.cache_key != self.state.images[key].cache_key:
                    raise ConfigError(
                        f"the settings changed since {self.state_path} was written (the request "
                        f"for {key} differs); resume with the same settings"
                    )
                ids = waiting[key]
                samples = [self.state.requests[c].sample for c in ids]
                lines = await asyncio.to_thread(self._lines, request, ids, samples)
                if not writer.fits(lines):
                    await self._close_part(writer, {}, attempt=attempt)
                await asyncio.to_thread(writer.add, ids, lines)
                self.summary.retried += len(ids)
        await self._close_part(writer, {}, attempt=attempt)


def _take(lines: Iterator[ResultLine], count: int) -> list[ResultLine]:
    return list(itertools.islice(lines, count))
