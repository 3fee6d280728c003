"""Retrieval candidates (Img2Loc-style RAG): the gallery photos most and least like a query.

:func:`build_gallery` embeds a geo-tagged dataset into a :class:`~ethan.gallery.Gallery`;
:class:`GalleryRetriever` embeds each query photo with the same encoder and gives the prompt
the places of its ``k`` nearest gallery photos (template variable ``rag_neighbours``) and,
optionally, of its least similar ones (``rag_negatives``, "places it is probably not").

A photo is known by the SHA-256 of its file (what the embedding cache keys on, and what a
query can compute from its path or downloaded bytes), so a query that is itself in the
gallery is never its own neighbour: every row with its hash is excluded.

>>> retriever = GalleryRetriever("gallery/", k=16, negatives=16)    # doctest: +SKIP
>>> geo = Geolocator("openai", model="gpt-4o", retriever=retriever) # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from ethan.baselines.candidates import Candidate
from ethan.errors import ConfigError
from ethan.gallery import Gallery, GalleryWriter, Hit, IndexKind, SearchMode
from ethan.images import PreparedImage, file_sha256

if TYPE_CHECKING:
    from ethan.baselines.embeddings import EmbeddingCache, Encoder
    from ethan.eval.datasets import Dataset

DEFAULT_K = 16
_CITY = ("city", "town", "village", "place")
_REGION = ("region", "state", "province")
_COUNTRY = ("country", "country_name")


class Neighbour(Candidate):
    """A gallery photo's place; ``str()`` is the line a template shows."""

    similarity: float | None = Field(default=None, description="cosine similarity to the query")

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.similarity is None else f"{text}, similarity {self.similarity:.2f}"


class Retrieved(BaseModel):
    """What retrieval found for one photo."""

    neighbours: list[Neighbour] = Field(default_factory=list)
    negatives: list[Neighbour] = Field(default_factory=list)

    def variables(self) -> dict[str, Any]:
        """The template variables: ``rag_neighbours`` and ``rag_negatives``."""
        return {"rag_neighbours": list(self.neighbours), "rag_negatives": list(self.negatives)}


class Retriever(Protocol):
    """Anything that finds candidates for a photo; called off the event loop."""

    def retrieve(self, image: PreparedImage, source: str | Path | bytes) -> Retrieved:
        """Candidates for the photo (``image`` as it is sent, ``source`` as it was given:
        a path or the downloaded bytes)."""
        ...

    def close(self) -> None:
        """Release what the retriever holds (files, caches)."""
        ...


def source_sha256(source: str | Path | bytes) -> str:
    """The SHA-256 of an image file, or of its bytes."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    return file_sha256(source)


class GalleryRetriever:
    """Nearest (and farthest) gallery photos of each query, by the gallery's own encoder.

    ``encoder`` defaults to the one the gallery was built with (its spec is stored);
    ``cache`` reuses the embedding cache (``True``: the user's, ``False``: none).
    ``exclude_self=False`` lets a photo find itself (for experiments only).
    """

    def __init__(
        self,
        gallery: Gallery | str | Path,
        *,
        k: int = DEFAULT_K,
        negatives: int = 0,
        encoder: Encoder | None = None,
        cache: EmbeddingCache | bool = True,
        names: bool = True,
        exclude_self: bool = True,
        search: SearchMode = "auto",
        device: str = "cpu",
    ) -> None:
        from ethan.baselines.embeddings import EmbeddingCache, create_encoder

        if k < 1:
            raise ConfigError(f"the number of retrieved neighbours must be at least 1, got {k}")
        if negatives < 0:
            raise ConfigError(f"the number of negatives must be 0 or more, got {negatives}")
        self.gallery = gallery if isinstance(gallery, Gallery) else Gallery(gallery, search=search)
        if len(self.gallery) == 0:
            raise ConfigError(f"gallery {self.gallery.path} is empty")
        self.encoder = encoder or create_encoder(self.gallery.info.encoder, device=device)
        if self.encoder.identity != self.gallery.info.encoder_identity:
            raise ConfigError(
                f"encoder {self.encoder.identity} differs from the gallery's "
                f"{self.gallery.info.encoder_identity}: its embeddings are not comparable"
            )
        self.cache: EmbeddingCache | None
        if isinstance(cache, EmbeddingCache):
            self.cache = cache
        else:
            self.cache = EmbeddingCache() if cache else None
        self.k, self.negatives = k, negatives
        self.names, self.exclude_self = names, exclude_self

    def describe(self) -> dict[str, Any]:
        """What a run's recorded configuration should say about the retrieval."""
        info = self.gallery.info
        return {
            "gallery": str(self.gallery.path), "k": self.k, "negatives": self.negatives,
            "encoder": info.encoder_identity, "count": info.count,
            "search": "ann" if self.gallery.uses_index else "exact",
            "exclude_self": self.exclude_self,
        }  # fmt: skip

    def embed(self, source: str | Path | bytes) -> tuple[Any, str]:
        """The query's embedding row and its file hash (from the cache when it is there)."""
        from ethan.baselines.embeddings import EmbeddingCache, load_rgb

        digest = source_sha256(source)
        key = EmbeddingCache.key(self.encoder.identity, digest)
        vector = self.cache.get(key) if self.cache is not None else None
        if vector is None:
            vector = self.encoder.encode([load_rgb(source)])[0]
            if self.cache is not None:
                self.cache.put(key, vector)
        return vector, digest

    def retrieve(self, image: PreparedImage, source: str | Path | bytes) -> Retrieved:
        vector, digest = self.embed(source)
        exclude = [self.gallery.rows_with_hash(digest)] if self.exclude_self else None
        found = self.gallery.search(vector, self.k, negatives=self.negatives, exclude=exclude)[0]
        near, far = self._named(found.neighbours), self._named(found.negatives)
        return Retrieved(neighbours=near, negatives=far)

    def _named(self, hits: list[Hit]) -> list[Neighbour]:
        names = [h.name for h in hits]
        todo = [i for i, name in enumerate(names) if name is None]
        if self.names and todo:
            from ethan.geocode import reverse_many

            places = reverse_many([hits[i].lat for i in todo], [hits[i].lon for i in todo])
            for i, place in zip(todo, places, strict=True):
                names[i] = ", ".join(x for x in (place.region, place.country) if x) or None
        return [
            Neighbour(lat=h.lat, lon=h.lon, name=name, similarity=round(h.similarity, 4),
                      source="gallery")
            for h, name in zip(hits, names, strict=True)
        ]  # fmt: skip

    def close(self) -> None:
        self.gallery.close()
        if self.cache is not None:
            self.cache.close()


def place_name(meta: Mapping[str, str]) -> str | None:
    """ "City, region, country" from a manifest row's columns, when it names any."""
    lowered = {k.lower().strip(): v.strip() for k, v in meta.items() if v and v.strip()}
    parts = [next((lowered[c] for c in group if c in lowered), None)
             for group in (_CITY, _REGION, _COUNTRY)]  # fmt: skip
    return ", ".join(p for p in parts if p) or None


@dataclass
class BuildReport:
    """What :func:`build_gallery` did."""

    path: Path
    count: int
    encoded: int = 0
    cached: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # sample id -> reason


def build_gallery(
    dataset: Dataset,
    encoder: Encoder,
    out: str | Path,
    *,
    encoder_spec: str,
    cache: EmbeddingCache | None = None,
    index: IndexKind | None = None,
    overwrite: bool = False,
    batch_size: int = 32,
    chunk: int = 1024,
    on_progress: Callable[[int], None] | None = None,
) -> BuildReport:
    """Embed every sample of ``dataset`` into a gallery at ``out``; unreadable images are
    skipped and reported. ``on_progress(n)`` is called as images are done."""
    from ethan.baselines.embeddings import embed_images

    samples = dataset.samples
    if not samples:
        raise ConfigError(f"{dataset.source} has no usable rows to build a gallery from")
    report = BuildReport(path=Path(out), count=0)
    writer: GalleryWriter | None = None
    try:
        for start in range(0, len(samples), chunk):
            part = samples[start : start + chunk]
            done = embed_images(
                [s.image for s in part], encoder, cache=cache, batch_size=batch_size,
                on_batch=on_progress,
            )  # fmt: skip
            report.encoded += done.encoded
            report.cached += done.cached
            for i, reason in done.errors.items():
                report.skipped[part[i].id] = reason
            kept = [i for i in range(len(part)) if i not in done.errors]
            if not kept:
                continue
            if writer is None:
                writer = GalleryWriter(
                    out, int(done.vectors.shape[1]), encoder=encoder_spec,
                    encoder_identity=encoder.identity, index=index, overwrite=overwrite,
                    source=dataset.source,
                )  # fmt: skip
            digests = [done.digests[i] for i in kept]
            _add(writer, [part[i] for i in kept], done.vectors[kept], digests)
        if writer is None:
            raise ConfigError(f"no image of {dataset.source} could be embedded")
        report.count = writer.count
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return report


def _add(writer: GalleryWriter, samples: Sequence[Any], vectors: Any, digests: list[str]) -> None:
    writer.add(
        vectors,
        [s.lat for s in samples],
        [s.lon for s in samples],
        digests,
        [s.id for s in samples],
        [str(s.image) for s in samples],
        [place_name(s.meta) for s in samples],
    )
