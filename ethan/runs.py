"""Runs, owned by the library: a :class:`RunSpec` in, the same files the CLI writes out.

>>> from ethan import RunSpec, locate_files, evaluate              # doctest: +SKIP
>>> spec = RunSpec.load("runs/gpt-4o/run.yaml")                     # doctest: +SKIP
>>> result = evaluate(spec.model_copy(update={"out": Path("runs/again")}))  # doctest: +SKIP

:func:`locate_files` writes the predictions JSONL (resumable and locked) and saves the
specification beside it as ``OUT.run.yaml``; :func:`evaluate` writes a run folder:
``run.yaml``, ``predictions.jsonl``, ``metrics.json`` (metrics and provenance),
``scored.csv`` and the report. A :class:`RunObserver` sees the run's progress; a budget that
runs out ends the run cleanly (:attr:`RunResult.stopped`), and a Ctrl-C leaves every
finished image saved.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ethan.backends.endpoints import endpoint_stats
from ethan.budget import Budget, BudgetExceededError
from ethan.errors import ConfigError, NothingToDoError
from ethan.identity import ImageInput, image_key
from ethan.pipeline import Geolocator
from ethan.remote import is_url
from ethan.results import PredictionWriter
from ethan.spec import RunSpec
from ethan.summary import RunSummary
from ethan.types import Prediction

if TYPE_CHECKING:
    from ethan.batch import BatchProgress
    from ethan.eval.datasets import Dataset

SPEC_FILE = "run.yaml"


class RunObserver:
    """What a caller sees of a run (the CLI draws its progress bar from these)."""

    def started(self, total: int, skipped: int) -> None:
        """The images to do, once the resumed output has been read."""

    def finished(self, prediction: Prediction) -> None:
        """One image is done (and saved, when the run has an output)."""

    def loaded(self, dataset: Dataset) -> None:
        """An evaluation's dataset is read (its skipped rows are in ``dataset.problems``)."""

    def batch(self, progress: BatchProgress) -> None:
        """The Batch API engine polled its batches (states and request counts)."""

    def ended(self, result: RunResult) -> None:
        """The run is over (finished, or stopped by its budget)."""


@dataclass
class RunResult:
    spec: RunSpec
    summary: RunSummary = field(default_factory=RunSummary)
    out: Path | None = None
    spec_path: Path | None = None
    #: why the run ended before its last image (a spent budget); None when it finished
    stopped: str | None = None
    model: str | None = None
    backend_identity: dict[str, Any] = field(default_factory=dict)
    map_path: Path | None = None


def spec_path_for(out: Path) -> Path:
    """Where ``ethan locate --out FILE`` saves its specification: ``FILE.run.yaml``."""
    return out.with_name(out.name + ".run.yaml")


def build_budget(spec: RunSpec) -> Budget | None:
    b = spec.budget
    budget = Budget(
        max_requests=b.max_requests,
        max_tokens=b.max_total_tokens,
        max_cost=b.max_cost,
        price_in=b.price_in,
        price_out=b.price_out,
    )
    return budget if budget.limited() else None


def build_geolocator(spec: RunSpec) -> Geolocator:
    """The Geolocator a specification describes (also what each Ray actor builds)."""
    from ethan.backends.base import Backend, create_backend
    from ethan.geocode import create_geocoder

    options = spec.backend.checked_options()
    name = spec.backend.resolved_name()
    if spec.backend.name is None and name == "llama-cpp":
        from ethan.defaults import default_backend

        mmproj = options.pop("mmproj", None)
        backend: Backend = default_backend(model=spec.backend.model, mmproj=mmproj, **options)
    else:
        backend = create_backend(name, spec.backend.model, **options)
    geocoder = None
    name = spec.geocoder.name.strip().lower()
    if name != "offline" or spec.geocoder.options:
        geocoder_options = {k: _scalar(v) for k, v in spec.geocoder.options.items()}
        geocoder = create_geocoder(spec.geocoder.name, **geocoder_options)
    retriever = None
    r = spec.retrieval
    if r.rag is not None:
        from ethan.rag import GalleryRetriever

        retriever = GalleryRetriever(r.rag, k=r.rag_k, negatives=r.rag_negatives, cache=spec.cache)
    return Geolocator(
        backend,
        geocoder=geocoder,
        cache=spec.cache,
        budget=build_budget(spec),
        retriever=retriever,
        verify=r.verify,
        workers=spec.workers,
        **spec.settings.model_dump(),
    )


def resolved_spec(spec: RunSpec, geo: Geolocator) -> RunSpec:
    """``spec`` with the backend that actually runs written in (when it was left to the
    default), so the saved run.yaml replays the same model whatever the environment."""
    if spec.backend.name is not None:
        return spec
    backend = geo.backend
    update: dict[str, Any] = {"name": backend.name, "model": backend.model}
    local = getattr(backend, "spec", None)  # a llama.cpp model given as files, not a preset
    if getattr(backend, "preset", True) is None and local is not None:
        update["model"] = local.model_path
        update["options"] = {**spec.backend.options, "mmproj": local.mmproj_path}
    return spec.model_copy(update={"backend": spec.backend.model_copy(update=update)})


def gather_images(spec: RunSpec) -> list[ImageInput]:
    """The images of ``spec.inputs``: files, folders walked recursively, URLs."""
    from ethan.images import iter_image_files

    paths = [p for p in spec.inputs if not is_url(p)]
    urls = [p for p in spec.inputs if is_url(p)]
    return [*iter_image_files(paths), *urls]


async def alocate_files(
    spec: RunSpec,
    *,
    resume: bool = False,
    overwrite: bool = False,
    observer: RunObserver | None = None,
    sink: Callable[[Prediction], None] | None = None,
    images: list[ImageInput] | None = None,
) -> RunResult:
    """Locate ``spec.inputs`` (or ``images``) into ``spec.out``; see :func:`locate_files`."""
    observer = observer or RunObserver()
    todo = images if images is not None else gather_images(spec)
    if not todo:
        raise NothingToDoError("no images found in the given paths")
    geo = build_geolocator(spec)
    spec = resolved_spec(spec, geo)
    result = RunResult(spec=spec, out=spec.out, model=geo.backend.model)
    result.backend_identity = geo.backend.identity()
    drawn: list[Prediction] | None = [] if spec.map is not None and spec.out is None else None
    if spec.map is not None:
        from ethan.eval.maps import require_folium

        require_folium()
    if drawn is not None:
        given = sink

        def sink(prediction: Prediction) -> None:
            drawn.append(prediction)
            if given is not None:
                given(prediction)

    writer = None
    if spec.out is not None:
        writer = PredictionWriter(spec.out, resume=resume, overwrite=overwrite)
    try:
        if writer is not None:
            writer.open()
            result.spec_path = spec.save(spec_path_for(spec.out))  # type: ignore[arg-type]
            before = len(todo)
            todo = [image for image in todo if image_key(image) not in writer.done]
            result.summary.skipped = before - len(todo)
        observer.started(len(todo), result.summary.skipped)
        job = Job(spec, geo, todo, observer, spec.out, resume)
        await drive(job, result, writer, sink)
    finally:
        if writer is not None:
            writer.close()
        await close_geolocator(geo)
    if spec.map is not None:
        from ethan.eval.maps import write_prediction_map
        from ethan.results import read_predictions

        shown = drawn if drawn is not None else read_predictions(spec.out)  # type: ignore[arg-type]
        result.map_path = write_prediction_map(shown, spec.map)
    return result


async def close_geolocator(geo: Geolocator) -> None:
    """Close a Geolocator that :func:`build_geolocator` made, with the retriever it owns."""
    await geo.aclose()
    if geo.retriever is not None:
        geo.retriever.close()


@dataclass
class Job:
    """What an engine runs: the images still to do, and where each prediction goes."""

    spec: RunSpec
    geo: Geolocator
    images: Sequence[ImageInput]
    observer: RunObserver
    out: Path | None
    resume: bool


Emit = Callable[[Prediction], None]


async def _local(job: Job, emit: Emit) -> None:
    """This process, ``concurrency`` images in flight."""
    async for prediction in job.geo.locate_many(job.images, concurrency=job.spec.concurrency):
        emit(prediction)


async def _batch(job: Job, emit: Emit) -> None:
    """The OpenAI Batch API: uploaded, polled, resumable from ``OUT.batch.json``."""
    from ethan.batch import locate_batch, state_path_for

    if job.out is None:
        raise ConfigError("--engine batch needs --out: its state is kept beside the output")
    await locate_batch(
        job.geo,
        job.images,
        emit,
        state_path=state_path_for(job.out),
        resume=job.resume,
        poll_interval=job.spec.poll_interval,
        concurrency=job.spec.concurrency,
        on_progress=job.observer.batch,
    )


async def _ray(job: Job, emit: Emit) -> None:
    """Ray Data: actors that each build one Geolocator from the specification; the driver
    (a worker thread here) streams their predictions back."""
    from ethan.engines.ray import RayOptions, iter_predictions, locate_dataset

    spec = job.spec
    options = RayOptions(address=spec.ray_address, actors=spec.actors, concurrency=spec.concurrency)
    factory = functools.partial(build_geolocator, spec)

    def stream() -> None:
        for prediction in iter_predictions(
            locate_dataset(list(job.images), factory, options=options)
        ):
            emit(prediction)

    await asyncio.to_thread(stream)


#: engine name -> how it runs a job (RunSpec.engine)
ENGINES: dict[str, Callable[[Job, Emit], Awaitable[None]]] = {
    "local": _local,
    "batch": _batch,
    "ray": _ray,
}


async def drive(
    job: Job,
    result: RunResult,
    writer: PredictionWriter | None,
    sink: Callable[[Prediction], None] | None,
    ids: dict[str, deque[str]] | None = None,
) -> None:
    """Run the job on its engine; every prediction is written, passed on and counted."""

    def emit(prediction: Prediction) -> None:
        if ids is not None:
            prediction.id = ids[prediction.image].popleft()
        if writer is not None:
            writer.write(prediction)
        if sink is not None:
            sink(prediction)
        result.summary.add(prediction)
        job.observer.finished(prediction)

    try:
        await ENGINES[job.spec.engine](job, emit)
    except BudgetExceededError as exc:
        result.stopped = str(exc)
    result.summary.endpoints = endpoint_stats(job.geo.backend)
    job.observer.ended(result)


def locate_files(
    spec: RunSpec,
    *,
    resume: bool = False,
    overwrite: bool = False,
    observer: RunObserver | None = None,
    sink: Callable[[Prediction], None] | None = None,
) -> RunResult:
    """Locate the images of ``spec.inputs``.

    With ``spec.out`` each prediction is appended to that JSONL file (``resume`` skips the
    images it holds; an existing file is kept unless ``overwrite``) and the specification is
    saved as ``OUT.run.yaml``; ``sink`` also receives every prediction.
    """
    return asyncio.run(
        alocate_files(spec, resume=resume, overwrite=overwrite, observer=observer, sink=sink)
    )


def _scalar(value: Any) -> Any:
    """A flag's text as the int, float or bool it spells, else the text itself."""
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value
