"""The Ray Data engine on a local Ray cluster: the same predictions as the local engine."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from ethan import Geolocator, Prediction, read_predictions
from ethan.engines.ray import (
    RayOptions,
    connect,
    iter_predictions,
    locate_dataset,
    locate_to_file,
)
from ethan.errors import ConfigError, MissingDependencyError
from ethan.identity import image_key
from tests.conftest import STREETVIEW, locate_all
from tests.replay_server import ReplayCorpus, ReplayServer

IMAGES = sorted((STREETVIEW / "images").iterdir())
#: small on purpose: a 2-core CI machine, and each actor loads its own gazetteer
OPTIONS = RayOptions(actors=2, batch_size=25, concurrency=8, num_cpus=0.5)


@pytest.fixture(scope="module")
def cluster(shared_gazetteer_dir: Path) -> Iterator[None]:
    """One local Ray cluster for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def replay(corpus: ReplayCorpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus) as running:
        yield running


def factory(base_url: str) -> functools.partial[Geolocator]:
    return functools.partial(
        Geolocator, "openai", backend_options={"base_url": base_url}, cache=False
    )


def _by_image(predictions: list[Prediction]) -> dict[str, tuple[object, ...]]:
    return {p.image: (p.status.value, p.lat, p.lon, p.raw, p.message) for p in predictions}


def test_ray_gives_the_local_engines_predictions_image_for_image(
    cluster: None, replay: ReplayServer
) -> None:
    local = locate_all(factory(replay.base_url)(), IMAGES)
    dataset = locate_dataset(IMAGES, factory(replay.base_url), options=OPTIONS)
    remote = list(iter_predictions(dataset))
    assert len(remote) == len(IMAGES)
    assert sorted(p.image for p in remote) == sorted(image_key(p) for p in IMAGES)
    assert _by_image(remote) == _by_image(local)
    assert {p.status.value for p in remote} >= {"ok"}


def test_a_dataset_of_images_goes_in(cluster: None, replay: ReplayServer) -> None:
    dataset = ray.data.from_items([{"image": str(p)} for p in IMAGES[:10]])
    rows = locate_dataset(dataset, factory(replay.base_url), options=OPTIONS).take_all()
    assert sorted(r["image"] for r in rows) == sorted(str(p) for p in IMAGES[:10])
    for row in rows:
        assert Prediction.model_validate_json(row["prediction"]).status.value == row["status"]
    with pytest.raises(ConfigError, match="'image' column"):
        locate_dataset(ray.data.from_items([{"path": "x"}]), factory(replay.base_url))


def test_streams_to_jsonl_and_resume_skips_finished_images(
    cluster: None, replay: ReplayServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    before = len(replay.requests)
    first = locate_to_file(IMAGES[:60], factory(replay.base_url), out, options=OPTIONS)
    assert first.total == 60 and len(replay.requests) - before == 60
    seen: list[str] = []
    again = locate_to_file(
        IMAGES,
        factory(replay.base_url),
        out,
        options=OPTIONS,
        resume=True,
        on_prediction=lambda p: seen.append(p.image),
    )
    assert again.skipped == 60 and again.total == len(IMAGES) - 60 == len(seen)
    assert len(replay.requests) - before == len(IMAGES)  # nothing asked twice
    written = list(read_predictions(out))
    assert sorted(p.image for p in written) == sorted(image_key(p) for p in IMAGES)
    # a dataset input is filtered the same way: nothing is left to do
    dataset = ray.data.from_items([{"image": str(p)} for p in IMAGES])
    last = locate_to_file(dataset, factory(replay.base_url), out, options=OPTIONS, resume=True)
    assert last.total == 0 and len(list(read_predictions(out))) == len(IMAGES)
    with pytest.raises(ConfigError, match="--resume"):
        locate_to_file(IMAGES[:1], factory(replay.base_url), out, options=OPTIONS)


def test_without_ray_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "ethan\[ray\]"'):
        connect()
