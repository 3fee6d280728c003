"""GeoCLIP (Vivanco et al., NeurIPS 2023) through the ``geoclip`` package.

GeoCLIP matches an image embedding against a gallery of 100,000 GPS points and returns the
top-k points with their probabilities. Its own weights ship with the package, but its CLIP
backbone (``openai/clip-vit-large-patch14``) is fetched from the Hugging Face hub on first
use: offline, loading fails with a :class:`WeightsUnavailableError` that says so.

>>> predictor = GeoCLIPPredictor(top_k=5)                          # doctest: +SKIP
>>> predictions = predictor.predict([Item("photo.jpg")])           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ethan.baselines.errors import WeightsUnavailableError
from ethan.baselines.outputs import Item, Point, error_prediction, to_predictions
from ethan.errors import ConfigError, MissingDependencyError
from ethan.types import PointSource, Prediction

MODEL_NAME = "geoclip"


def load_geoclip(device: str = "cpu") -> Any:
    """A ready GeoCLIP model, or a clear error when the package or its weights are missing."""
    try:
        from geoclip import GeoCLIP
    except ImportError:
        raise MissingDependencyError(
            "the GeoCLIP baseline needs its package: pip install geoclip"
        ) from None
    try:
        model = GeoCLIP()
        model = model.to(device)
        model.eval()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsUnavailableError(
            f"could not load GeoCLIP's weights: {reason[:300]}. GeoCLIP downloads its CLIP "
            "backbone (openai/clip-vit-large-patch14) from the Hugging Face hub on first use; "
            "run it once online, or set HF_HOME to a folder that already holds the model"
        ) from exc
    return model


class GeoCLIPPredictor:
    """Writes GeoCLIP's top-k points with probabilities as ethan predictions."""

    def __init__(
        self, *, top_k: int = 5, device: str = "cpu", model: Any | None = None, names: bool = True
    ) -> None:
        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        self.top_k = top_k
        self.names = names
        self.model = model if model is not None else load_geoclip(device)

    def points(self, image: str) -> list[Point]:
        """GeoCLIP's top-k (lat, lon, probability) for one image file."""
        import torch

        with torch.no_grad():
            gps, prob = self.model.predict(image, top_k=self.top_k)
        coords = _as_list(gps)
        probs = _as_list(prob)
        return [
            Point(float(c[0]), float(c[1]), float(p), PointSource.STATED)
            for c, p in zip(coords, probs, strict=True)
        ]

    def predict(
        self, items: Iterable[Item], *, on_done: Callable[[Prediction], None] | None = None
    ) -> Iterator[Prediction]:
        """A prediction per item; an image GeoCLIP cannot read gives an ``error`` one."""
        for item in items:
            try:
                ranked = self.points(item.image)
            except (OSError, ValueError, RuntimeError) as exc:
                prediction = error_prediction(item, f"{item.image}: {exc}", model=MODEL_NAME)
            else:
                prediction = to_predictions([item], [ranked], model=MODEL_NAME, names=self.names)[0]
            if on_done is not None:
                on_done(prediction)
            yield prediction


def _as_list(value: Any) -> list[Any]:
    tolist = getattr(value, "tolist", None)
    result = tolist() if callable(tolist) else list(value)
    return list(result)
