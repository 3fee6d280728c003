"""Few-shot sets: worked examples shown to the model before the real photo.

A set is a YAML or JSON file::

    description: what the set is for
    exemplars:
      - id: short-name
        image: photos/x.jpg      # optional, relative to the set file
        scene: text describing the scene, used when there is no image
        reasoning: the worked chain, clues -> constraints -> continent ... -> coordinates
        answer: {reasoning: ..., clues: [...], guesses: [...]}   # a ModelAnswer

The assistant turn of an example is its reasoning followed by its answer rendered as JSON
from :class:`ModelAnswer`, so examples always show the current output contract.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ethan.errors import TemplateError
from ethan.resources import data_dir
from ethan.types import ModelAnswer

SET_SUFFIXES = (".yaml", ".yml", ".json")


class Exemplar(BaseModel):
    """One worked example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    image: Path | None = Field(default=None, description="resolved against the set's folder")
    scene: str | None = Field(default=None, description="stands in for a missing image")
    reasoning: str = Field(min_length=1)
    answer: ModelAnswer

    @model_validator(mode="after")
    def _needs_a_picture(self) -> Exemplar:
        if self.image is None and not (self.scene and self.scene.strip()):
            raise ValueError(f"example {self.id!r} needs an image or a scene description")
        return self

    def scene_text(self) -> str:
        """What stands in for the photo of an example that has none."""
        scene = (self.scene or "").strip()
        return f"(No photo is attached to this example; this is what it shows.)\n{scene}"

    def reply(self) -> str:
        """The assistant turn: the reasoning chain, then the answer as fenced JSON."""
        body = json.dumps(self.answer.model_dump(mode="json"), indent=2, ensure_ascii=False)
        return f"{self.reasoning.strip()}\n\n```json\n{body}\n```"


class FewshotSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    path: Path
    description: str = ""
    exemplars: tuple[Exemplar, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> FewshotSet:
        ids = [exemplar.id for exemplar in self.exemplars]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate example ids: {', '.join(duplicates)}")
        return self


def _set_path(name_or_path: str | Path, extra_dirs: Sequence[Path]) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    name = str(name_or_path)
    if path.suffix.lower() in SET_SUFFIXES or "/" in name or "\\" in name:
        raise TemplateError(f"few-shot set file not found: {name}")
    for folder in (*extra_dirs, data_dir("fewshot")):
        for suffix in SET_SUFFIXES:
            candidate = Path(folder).expanduser() / f"{name}{suffix}"
            if candidate.is_file():
                return candidate.resolve()
    known = ", ".join(s.name for s in list_fewshot_sets(extra_dirs)) or "none"
    raise TemplateError(f"unknown few-shot set {name!r}; available: {known}")


def fewshot_file(name_or_path: str | Path, extra_dirs: Sequence[Path] = ()) -> Path:
    """The file a few-shot set is read from."""
    return _set_path(name_or_path, extra_dirs)


def load_fewshot_set(name_or_path: str | Path, extra_dirs: Sequence[Path] = ()) -> FewshotSet:
    """Load a set by name (user folders first, then the shipped sets) or by file path."""
    path = _set_path(name_or_path, extra_dirs)
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int) -> FewshotSet:  # mtime in the key: edits reload
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read few-shot set {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise TemplateError(f"few-shot set {path} must be a mapping with 'exemplars'")
    for item in raw.get("exemplars") or []:
        if isinstance(item, dict) and item.get("image"):
            item["image"] = (path.parent / str(item["image"])).resolve()
    try:
        loaded = FewshotSet.model_validate({**raw, "name": path.stem, "path": path})
    except ValidationError as exc:
        raise TemplateError(f"invalid few-shot set {path}: {exc}") from None
    for exemplar in loaded.exemplars:
        if exemplar.image is not None and not exemplar.image.is_file():
            raise TemplateError(
                f"few-shot set {path}: image of example {exemplar.id!r} not found: {exemplar.image}"
            )
    return loaded


def list_fewshot_sets(extra_dirs: Sequence[Path] = ()) -> list[FewshotSet]:
    """Every set in the user folders and the shipped one (a user's set shadows by name)."""
    found: dict[str, FewshotSet] = {}
    for folder in (*extra_dirs, data_dir("fewshot")):
        for path in sorted(Path(folder).expanduser().glob("*")):
            if path.suffix.lower() in SET_SUFFIXES and path.stem not in found:
                found[path.stem] = load_fewshot_set(path)
    return sorted(found.values(), key=lambda fewshot: fewshot.name)
