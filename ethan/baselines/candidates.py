"""Candidates for the hybrid: a baseline's top-k points, shown to the model in its prompt.

``ethan locate/eval --candidates FILE`` reads any predictions file (a classifier baseline,
GeoCLIP, another run) and gives each image's hypotheses to the prompt template as its
``candidates`` variable, so the model can choose among them or reason beyond them.

Only the predictions' own hypotheses are read (point, probability, names): a predictions
file holds no ground truth, and nothing else is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ethan.errors import ConfigError
from ethan.types import Candidate, Prediction

__all__ = ["Candidate", "candidates_by_image", "load_candidates"]

DEFAULT_TOP_K = 5


def _own(prediction: Prediction, top_k: int) -> list[Candidate]:
    if not prediction.ok or prediction.lat is None or prediction.lon is None:
        return []
    hypotheses = prediction.hypotheses[:top_k]
    if not hypotheses:
        return [Candidate(lat=prediction.lat, lon=prediction.lon, source=prediction.model)]
    return [
        Candidate(
            lat=h.lat, lon=h.lon, probability=h.probability, name=h.label() or None,
            source=prediction.model,
        )
        for h in hypotheses
    ]  # fmt: skip


def _name_all(groups: list[list[Candidate]]) -> list[list[Candidate]]:
    """Offline names (region, country) for the candidates that have none."""
    from ethan.geocode import reverse_many

    todo = [c for group in groups for c in group if c.name is None]
    if not todo:
        return groups
    places = reverse_many([c.lat for c in todo], [c.lon for c in todo])
    names = {
        (c.lat, c.lon): ", ".join(x for x in (p.region, p.country) if x) or None
        for c, p in zip(todo, places, strict=True)
    }
    return [
        [c if c.name else c.model_copy(update={"name": names[(c.lat, c.lon)]}) for c in group]
        for group in groups
    ]


def load_candidates(
    path: str | Path, *, top_k: int = DEFAULT_TOP_K, names: bool = True
) -> dict[str, list[Candidate]]:
    """Each image's candidates from a predictions file, keyed by the image's file name
    (and by its dataset id when that is a different file name)."""
    from ethan.results import read_predictions

    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"candidates file not found: {source}")
    found = candidates_by_image(read_predictions(source), top_k=top_k, names=names)
    if not found:
        raise ConfigError(f"{source} holds no answered prediction to take candidates from")
    return found


def candidates_by_image(
    predictions: Iterable[Prediction], *, top_k: int = DEFAULT_TOP_K, names: bool = True
) -> dict[str, list[Candidate]]:
    """Candidates keyed by image file name (and dataset id), named in one batch."""
    if top_k < 1:
        raise ConfigError(f"top_k must be at least 1, got {top_k}")
    keys: list[list[str]] = []
    groups: list[list[Candidate]] = []
    for prediction in predictions:
        own = _own(prediction, top_k)
        if own:
            # the image key as recorded, and the dataset id; the pipeline matches them to
            # its images with ethan.identity.KeyIndex (a/photo.jpg is not b/photo.jpg)
            ids = [prediction.image]
            if prediction.id:
                ids.append(prediction.id)
            keys.append(ids)
            groups.append(own)
    if names:
        groups = _name_all(groups)
    out: dict[str, list[Candidate]] = {}
    for ids, group in zip(keys, groups, strict=True):
        for key in ids:
            out.setdefault(key, group)
    return out
