"""Image encoders on the real Street View photos, the embedding cache, precomputed
embeddings, and the clear errors of CLIP, StreetCLIP and GeoCLIP without their weights."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from ethan.baselines.embeddings import (
    EmbeddingCache,
    PrecomputedEmbeddings,
    RandomEncoder,
    create_encoder,
    embed_images,
    write_embeddings,
)
from ethan.baselines.errors import WeightsUnavailableError
from ethan.baselines.geoclip import GeoCLIPPredictor, load_geoclip
from ethan.baselines.outputs import Item
from ethan.errors import ConfigError, MissingDependencyError
from ethan.types import PointSource, Status
from tests.conftest import STREETVIEW

IMAGES = sorted((STREETVIEW / "images").glob("*.jpg"))[:12]


class Counting:
    """An encoder that counts the images it is asked to encode."""

    def __init__(self, inner: RandomEncoder) -> None:
        self.inner = inner
        self.seen = 0

    @property
    def identity(self) -> str:
        return self.inner.identity

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.seen += len(images)
        return self.inner.encode(images)


def test_random_encoder_embeds_real_photos_deterministically() -> None:
    a = embed_images(IMAGES, create_encoder("random:24:7"))
    b = embed_images(IMAGES, create_encoder("random:24:7"))
    assert a.vectors.shape == (12, 24) and a.vectors.dtype == np.float32
    assert not a.errors and a.encoded == 12
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert len({row.tobytes() for row in a.vectors}) == 12  # different photos, different rows
    other = embed_images(IMAGES[:2], create_encoder("random:24:8"))
    assert not np.allclose(other.vectors, a.vectors[:2])


def test_embeddings_are_cached_by_encoder_and_content(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    first = Counting(RandomEncoder(16))
    done = embed_images(IMAGES, first, cache=cache, batch_size=5)
    assert first.seen == 12 and done.encoded == 12 and done.cached == 0
    # a copy of a photo under another name is the same content: a cache hit
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(IMAGES[0].read_bytes())
    second = Counting(RandomEncoder(16))
    again = embed_images([*IMAGES, copy], second, cache=cache)
    assert second.seen == 0 and again.cached == 13 and again.encoded == 0
    np.testing.assert_array_equal(again.vectors[:12], done.vectors)
    np.testing.assert_array_equal(again.vectors[12], done.vectors[0])
    # another encoder does not read these entries
    third = Counting(RandomEncoder(16, seed=1))
    embed_images(IMAGES[:3], third, cache=cache)
    assert third.seen == 3 and len(cache) == 15
    cache.close()


def test_unreadable_images_are_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    out = embed_images([IMAGES[0], bad, tmp_path / "missing.jpg"], RandomEncoder(8))
    assert set(out.errors) == {1, 2} and out.encoded == 1
    assert "bad.jpg" in out.errors[1] and "missing.jpg" in out.errors[2]
    assert out.vectors.shape == (3, 8) and not out.vectors[1:].any()


def test_precomputed_embeddings_are_found_by_id_name_or_stem(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    images = ["x/a.jpg", "x/b.jpg", "c.png"]
    path = write_embeddings(tmp_path / "e.npy", ["a", "b", "c"], images, vectors)
    store = PrecomputedEmbeddings(path)
    out = store.lookup([["b"], ["nope", "a.jpg"], ["c"], ["zzz"]])
    np.testing.assert_array_equal(out.vectors[:3], vectors[[1, 0, 2]])
    assert list(out.errors) == [3]
    np.save(path, vectors[:2])
    with pytest.raises(ConfigError, match="2 rows but"):
        PrecomputedEmbeddings(path)


def test_encoder_specs() -> None:
    assert create_encoder("random").identity == "random:64:0:96"
    for bad in ("clip-vit", "open_clip:", "random:x"):
        with pytest.raises(ConfigError):
            create_encoder(bad)


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


def test_clip_encoders_without_their_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "open_clip", "transformers")
    with pytest.raises(MissingDependencyError, match="pip install open_clip_torch"):
        create_encoder("open_clip:ViT-B-32@laion2b_s34b_b79k")
    for spec in ("clip", "streetclip", "hf:geolocal/StreetCLIP"):
        with pytest.raises(MissingDependencyError, match="pip install transformers"):
            create_encoder(spec)


OFFLINE = (
    "We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find "
    "them in the cached files."
)


def test_clip_encoders_offline_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_weights(*args: Any, **kwargs: Any) -> Any:
        raise OSError(OFFLINE)

    fake_open_clip = types.ModuleType("open_clip")
    fake_open_clip.create_model_and_transforms = no_weights  # type: ignore[attr-defined]
    fake_transformers = types.ModuleType("transformers")
    fake_transformers.CLIPModel = types.SimpleNamespace(from_pretrained=no_weights)  # type: ignore[attr-defined]
    fake_transformers.CLIPProcessor = types.SimpleNamespace(from_pretrained=no_weights)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_clip", fake_open_clip)
    monkeypatch.setitem(sys.modules, "transformers", fake_transformers)
    with pytest.raises(WeightsUnavailableError) as info:
        create_encoder("open_clip:ViT-L-14@openai")
    assert "ViT-L-14" in str(info.value) and "couldn't connect" in str(info.value)
    assert "--embeddings" in str(info.value)
    with pytest.raises(WeightsUnavailableError, match=r"geolocal/StreetCLIP.*local checkpoint"):
        create_encoder("streetclip")


def test_geoclip_without_its_package_or_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "geoclip")
    with pytest.raises(MissingDependencyError, match="pip install geoclip"):
        load_geoclip()
    fake = types.ModuleType("geoclip")

    class Offline:
        def __init__(self) -> None:
            raise OSError(OFFLINE)

    fake.GeoCLIP = Offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "geoclip", fake)
    with pytest.raises(WeightsUnavailableError, match="clip-vit-large-patch14"):
        GeoCLIPPredictor(top_k=3)


def test_geoclip_adapter_writes_ranked_predictions() -> None:
    import torch

    class Model:
        """GeoCLIP's predict(): top-k (lat, lon) and probabilities as tensors."""

        def predict(self, image: str, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
            if not Path(image).is_file():
                raise FileNotFoundError(image)
            gps = torch.tensor([[48.8566, 2.3522], [45.764, 4.8357], [51.5072, -0.1276]])
            return gps[:top_k], torch.tensor([0.5, 0.2, 0.1])[:top_k]

    predictor = GeoCLIPPredictor(top_k=2, model=Model())
    items = [Item(str(IMAGES[0]), "a"), Item("/nowhere/x.jpg", "b")]
    ok, failed = predictor.predict(items)
    assert ok.status is Status.OK and ok.id == "a" and ok.model == "geoclip"
    assert (ok.lat, ok.lon) == pytest.approx((48.8566, 2.3522))
    assert [h.probability for h in ok.hypotheses] == pytest.approx([0.5, 0.2])
    assert [h.country_code for h in ok.hypotheses] == ["FR", "FR"]
    assert all(h.source is PointSource.STATED for h in ok.hypotheses)
    assert failed.status is Status.ERROR and failed.lat is None and "x.jpg" in failed.message
