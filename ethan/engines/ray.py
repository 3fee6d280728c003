"""Ray Data engine: spread a run over the cores of a machine or the nodes of a cluster.

The images travel through Ray as their keys (paths or URLs, a few bytes each); a pool of
actors reads and prepares them. Each actor builds ONE :class:`~ethan.pipeline.Geolocator`
from a picklable zero-argument factory when it starts, so the backend's connections, the
cache and the gazetteer are loaded once per actor, and runs each batch on its own event
loop through :meth:`~ethan.pipeline.Geolocator.locate_many`. The driver streams the
predictions back (Ray keeps only a bounded window in flight) and, with
:func:`locate_to_file`, appends them to the same JSONL as the local engine.

    >>> from functools import partial                                   # doctest: +SKIP
    >>> factory = partial(Geolocator, "openai", backend_options={"base_url": [...]})
    >>> summary = locate_to_file(paths, factory, "out.jsonl", options=RayOptions(actors=8))

Needs ``pip install "ethan[ray]"``.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ethan.errors import ConfigError, MissingDependencyError
from ethan.identity import ImageInput, image_key
from ethan.results import DoneKeys, PredictionWriter
from ethan.summary import RunSummary
from ethan.types import Prediction

if TYPE_CHECKING:
    from ray.data import Dataset

    from ethan.pipeline import Geolocator

#: Column of the input dataset that holds the images (paths, URLs or encoded bytes).
IMAGE_COLUMN = "image"
#: Columns of the output dataset: the image's key, its status and the prediction's JSON.
OUTPUT_COLUMNS = ("image", "status", "prediction")

GeolocatorFactory = Callable[[], "Geolocator"]


class RayOptions(BaseModel):
    """Where and how wide a Ray run goes."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        default=None,
        description="Ray cluster to join ('auto', 'ray://head:10001', ...); None starts a "
        "local one on this machine",
    )
    actors: int = Field(default=2, ge=1, description="actors, each holding one Geolocator")
    batch_size: int = Field(
        default=64,
        ge=1,
        description="images handed to an actor at once; a few times `concurrency`, so that "
        "the wait for a batch's slowest image is a small part of the batch",
    )
    concurrency: int = Field(default=16, ge=1, description="images in flight in each actor")
    num_cpus: float = Field(default=1.0, gt=0, description="CPUs Ray reserves per actor")


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ray engine needs Ray Data ({exc.name} is not installed); "
            'install it with: pip install "ethan[ray]"'
        ) from exc


def connect(address: str | None = None, **init_options: Any) -> None:
    """Join the Ray cluster at ``address`` (None: start a local one), unless already in one."""
    ray = _ray()
    importlib.import_module("ray.data")
    if not ray.is_initialized():
        ray.init(address=address, **init_options)


class LocateActor:
    """One actor of the pool: a Geolocator and an event loop, built once, reused per batch."""

    def __init__(self, factory: GeolocatorFactory, concurrency: int) -> None:
        self.geo = factory()
        self.concurrency = concurrency
        self.loop = asyncio.new_event_loop()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        images = [_as_input(item) for item in batch[IMAGE_COLUMN]]
        found = self.loop.run_until_complete(self._locate(images))
        # the batch goes back in input order (locate_many yields in completion order)
        ordered = [found[image_key(image)].pop() for image in images]
        return {
            "image": [p.image for p in ordered],
            "status": [p.status.value for p in ordered],
            "prediction": [p.model_dump_json() for p in ordered],
        }

    async def _locate(self, images: list[ImageInput]) -> dict[str, list[Prediction]]:
        found: dict[str, list[Prediction]] = {}
        async for prediction in self.geo.locate_many(images, concurrency=self.concurrency):
            found.setdefault(prediction.image, []).append(prediction)
        return found

    def __del__(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is None or loop.is_closed():
            return
        try:
            loop.run_until_complete(self.geo.aclose())
        except Exception:  # an actor going away must not fail on its way out
            pass
        finally:
            loop.close()


def _as_input(item: Any) -> ImageInput:
    """A dataset cell as an image input (Ray hands strings and bytes back as numpy)."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    return str(item)


class _NotDone:
    """Row filter that drops images a resumed run already has (picklable)."""

    def __init__(self, done: DoneKeys) -> None:
        self.done = done

    def __call__(self, row: dict[str, Any]) -> bool:
        return image_key(_as_input(row[IMAGE_COLUMN])) not in self.done


def image_dataset(images: Sequence[ImageInput] | Dataset) -> Dataset:
    """A dataset with one ``image`` column: paths and URLs as text, bytes as they are."""
    connect()
    ray = _ray()
    if isinstance(images, ray.data.Dataset):
        if IMAGE_COLUMN not in images.columns():
            raise ConfigError(f"the dataset needs an {IMAGE_COLUMN!r} column of paths or URLs")
        given: Dataset = images
        return given
    rows = [{IMAGE_COLUMN: i if isinstance(i, bytes) else image_key(i)} for i in images]
    made: Dataset = ray.data.from_items(rows)
    return made


def locate_dataset(
    images: Sequence[ImageInput] | Dataset,
    factory: GeolocatorFactory,
    *,
    options: RayOptions | None = None,
) -> Dataset:
    """A (lazy) dataset of predictions, one row per image: ``image`` (its key), ``status``
    and ``prediction`` (the :class:`~ethan.types.Prediction` as JSON).

    ``factory`` is called once in each actor and must pickle (a ``functools.partial`` of
    :class:`~ethan.pipeline.Geolocator`, or a run specification's bound method).
    """
    options = options or RayOptions()
    connect(options.address)
    dataset = image_dataset(images)
    result: Dataset = dataset.map_batches(
        LocateActor,
        fn_constructor_args=(factory, options.concurrency),
        batch_size=options.batch_size,
        batch_format="numpy",
        compute=_ray().data.ActorPoolStrategy(size=options.actors),
        num_cpus=options.num_cpus,
    )
    return result


def iter_predictions(dataset: Dataset) -> Iterator[Prediction]:
    """The predictions of :func:`locate_dataset`'s output, streamed to the driver."""
    for row in dataset.iter_rows():
        yield Prediction.model_validate_json(row["prediction"])


def locate_to_file(
    images: Sequence[ImageInput] | Dataset,
    factory: GeolocatorFactory,
    out: str | Path,
    *,
    options: RayOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_prediction: Callable[[Prediction], None] | None = None,
) -> RunSummary:
    """Run on Ray and append every prediction to ``out`` as the local engine does.

    With ``resume=True`` the images ``out`` already holds are skipped (by
    :func:`~ethan.identity.image_key`). ``on_prediction`` sees each prediction after it is
    written (for a progress bar). Returns the run's summary.
    """
    options = options or RayOptions()
    connect(options.address)
    summary = RunSummary()
    with PredictionWriter(out, resume=resume, overwrite=overwrite) as writer:
        todo = _remaining(images, writer.done, summary)
        for prediction in iter_predictions(locate_dataset(todo, factory, options=options)):
            writer.write(prediction)  # the writer keeps only the key (DoneKeys)
            summary.add(prediction)
            if on_prediction is not None:
                on_prediction(prediction)
    return summary


def _remaining(
    images: Sequence[ImageInput] | Dataset, done: DoneKeys, summary: RunSummary
) -> Sequence[ImageInput] | Dataset:
    if not done:
        return images
    if isinstance(images, Sequence):
        todo = [i for i in images if image_key(i) not in done]
        summary.skipped = len(images) - len(todo)
        return todo
    return image_dataset(images).filter(_NotDone(done))
