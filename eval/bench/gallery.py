"""Retrieval galleries at scale, and what each prompting mode costs per image.

    python eval/bench/gallery.py                       # 1,000,000 x 128, exact + IVF
    python eval/bench/gallery.py --n 200000 --dim 512 --hnsw
    python eval/bench/gallery.py --skip-scale          # only the per-mode cost

Part 1 writes a gallery of N synthetic clustered unit embeddings through GalleryWriter (in
batches, as ``ethan gallery build`` does), then searches it: exact (chunked scan of the
memory-mapped rows) and, when faiss is installed, an IVF index (and HNSW with --hnsw). It
prints time and peak memory of each phase (anonymous memory, i.e. what the process itself
allocates; the memory-mapped rows are page cache the kernel may drop), the ANN speed-up over
the exact scan and its recall@k against it. Goals: the build's peak memory stays far below
the N x dim x 4 bytes of the embeddings; an exact query at 1M x 128 takes well under 1 s.

Part 2 runs 20 corpus photos through the real OpenAI backend against the replay server
(tests/replay_server.py) in four modes (plain, RAG with 16 neighbours and 16 negatives,
verify, RAG + verify), the gallery being the other corpus photos (random encoder), and
prints requests, prompt and completion tokens per image as the server bills them
(4 characters a token, 765 tokens an image).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "streetview-dev"
BATCH = 50_000


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Peak:
    """Samples the process's anonymous and total resident memory while a phase runs."""

    def __init__(self) -> None:
        self.anon = self.rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.anon = max(self.anon, _status("RssAnon"))
            self.rss = max(self.rss, _status("VmRSS"))
            self._stop.wait(0.005)

    def __enter__(self) -> Peak:
        self.base = _status("RssAnon")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.anon = max(self.anon, _status("RssAnon"))


@contextmanager
def phase(name: str, results: dict[str, dict[str, float]]) -> Iterator[None]:
    with Peak() as peak:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
    results[name] = {"s": seconds, "anon_mib": peak.anon - peak.base, "rss_mib": peak.rss}
    print(
        f"  {name:<28} {seconds:8.2f} s   +{peak.anon - peak.base:8.1f} MiB anonymous   "
        f"peak RSS {peak.rss:8.1f} MiB",
        flush=True,
    )


def batches(n: int, dim: int, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Clustered embeddings (1,000 centres) and their row numbers, batch by batch."""
    centres = np.random.default_rng(seed).normal(size=(1000, dim)).astype(np.float32)
    for start in range(0, n, BATCH):
        rng = np.random.default_rng([seed, start])
        m = min(BATCH, n - start)
        x = centres[rng.integers(0, 1000, m)] + 0.6 * rng.normal(size=(m, dim)).astype(np.float32)
        yield x, np.arange(start, start + m)


def scale(n: int, dim: int, k: int, queries: int, hnsw: bool, folder: Path) -> None:
    from ethan.gallery import Gallery, GalleryWriter

    try:
        import faiss  # noqa: F401

        ann = True
    except ImportError:
        ann = False
    print(
        f"part 1: a gallery of {n:,} x {dim} synthetic embeddings "
        f"({n * dim * 4 / 2**20:,.0f} MiB of float32); faiss {'yes' if ann else 'no'}"
    )
    results: dict[str, dict[str, float]] = {}
    out = folder / "g"
    writer = GalleryWriter(out, dim, encoder="synthetic", encoder_identity="synthetic")
    with phase("build (write + finalise)", results), writer:
        for x, rows in batches(n, dim):
            writer.add(
                x,
                np.random.default_rng(int(rows[0])).uniform(-80, 80, rows.size),
                np.random.default_rng(int(rows[0]) + 1).uniform(-179, 179, rows.size),
                [hashlib.sha256(int(r).to_bytes(8, "little")).hexdigest() for r in rows],
                [str(int(r)) for r in rows],
            )
    q = next(batches(queries, dim, seed=7))[0]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    gallery = Gallery(out, search="exact")
    with phase(f"exact: 1 query x {queries}", results):
        exact = [gallery.search(q[i], k, negatives=k)[0] for i in range(queries)]
    with phase(f"exact: {queries} queries batched", results):
        gallery.search(q, k, negatives=k)
    per_query = results[f"exact: 1 query x {queries}"]["s"] / queries
    print(f"  exact search: {per_query * 1000:.1f} ms a query (k={k} neighbours + {k} negatives)")
    kinds = (["ivf"] + (["hnsw"] if hnsw else [])) if ann else []
    for kind in kinds:
        from ethan.gallery import build_index

        with phase(f"{kind}: build index", results):
            build_index(gallery.vectors, kind, out / "index.faiss")  # type: ignore[arg-type]
        info = gallery.info.model_copy(update={"index": kind})
        (out / "gallery.json").write_text(info.model_dump_json())
        for effort in (8, 32, 128) if kind == "ivf" else (16,):
            before = _status("RssAnon")
            indexed = Gallery(out, search="ann", nprobe=effort)
            indexed.search(q[:1], k)  # load the index pages
            if effort in (8, 16):
                print(f"  {kind}: the opened index adds {_status('RssAnon') - before:.1f} MiB "
                      "of anonymous memory (memory-mapped)")  # fmt: skip
            name = f"{kind}: 1 query x {queries}" + (f" nprobe {effort}" if kind == "ivf" else "")
            with phase(name, results):
                found = [indexed.search(q[i], k, negatives=k)[0] for i in range(queries)]
            ann_query = results[name]["s"] / queries
            recall = np.mean([
                len({h.row for h in a.neighbours} & {h.row for h in e.neighbours}) / k
                for a, e in zip(found, exact, strict=True)
            ])  # fmt: skip
            kept = np.mean([
                np.mean([h.similarity for h in a.neighbours])
                / np.mean([h.similarity for h in e.neighbours])
                for a, e in zip(found, exact, strict=True)
            ])  # fmt: skip
            print(f"  {name}: {ann_query * 1000:.2f} ms a query, {per_query / ann_query:.1f}x "
                  f"faster than exact, recall@{k} {recall:.3f}, similarity of the hits "
                  f"{kept:.3f}x the exact ones")  # fmt: skip
            indexed.close()
    gallery.close()
    build = results["build (write + finalise)"]
    print(f"  build: {n / build['s']:,.0f} rows/s; peak anonymous memory "
          f"{build['anon_mib']:.0f} MiB = {build['anon_mib'] / (n * dim * 4 / 2**20):.2f}x "
          "the embeddings' size")  # fmt: skip


def costs(images: int) -> None:
    sys.path.insert(0, str(ROOT))
    from ethan import Geolocator
    from ethan.baselines.embeddings import create_encoder
    from ethan.eval.datasets import load_dataset
    from ethan.rag import GalleryRetriever, build_gallery
    from tests.replay_server import ReplayCorpus, ReplayServer, VerifyReplies

    names = sorted(p.name for p in (CORPUS / "images").iterdir())[:images]
    queries = [CORPUS / "images" / name for name in names]
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_dataset(CORPUS / "truth.csv", images_root=CORPUS / "images")
        report = build_gallery(dataset, create_encoder("random"), Path(tmp) / "g",
                               encoder_spec="random")  # fmt: skip
        print(f"\npart 2: cost per image, {images} photos, gpt-4o recordings, gallery of "
              f"{report.count} photos (own photo excluded)")  # fmt: skip
        corpus = ReplayCorpus(CORPUS)
        modes: dict[str, Callable[[], dict[str, Any]]] = {
            "plain": dict,
            "rag 16+16": lambda: {"retriever": GalleryRetriever(
                Path(tmp) / "g", k=16, negatives=16, cache=False)},
            "verify": lambda: {"verify": True},
            "rag 4 + verify": lambda: {"verify": True, "retriever": GalleryRetriever(
                Path(tmp) / "g", k=4, cache=False)},
            "rag 16+16 + verify": lambda: {"verify": True, "retriever": GalleryRetriever(
                Path(tmp) / "g", k=16, negatives=16, cache=False)},
        }  # fmt: skip
        base: dict[str, float] = {}
        print(f"  {'mode':<20} {'req/img':>8} {'prompt tok/img':>15} {'compl tok/img':>14} "
              f"{'x plain tokens':>15} {'verified':>9} {'options':>8}")  # fmt: skip
        for mode, options in modes.items():
            with ReplayServer(corpus) as server:
                server.reply = VerifyReplies()
                url = {"base_url": server.base_url}
                geo = Geolocator(
                    "openai", model="gpt-4o", cache=False, backend_options=url, **options()
                )

                async def run(geo: Geolocator = geo) -> list[Any]:
                    try:
                        return [p async for p in geo.locate_many(queries, concurrency=8)]
                    finally:
                        await geo.aclose()

                predictions = asyncio.run(run())
                requests = len(server.requests)
            prompt = sum(p.usage.prompt_tokens for p in predictions) / images
            completion = sum(p.usage.completion_tokens for p in predictions) / images
            total = prompt + completion
            base.setdefault("total", total)
            checks = [p.verification for p in predictions if p.verification is not None]
            listed = np.mean([len(c.options) for c in checks]) if checks else 0.0
            print(
                f"  {mode:<20} {requests / images:8.2f} {prompt:15.0f} {completion:14.0f} "
                f"{total / base['total']:15.2f} {len(checks):>5}/{images} {listed:8.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--hnsw", action="store_true", help="also build an HNSW index (slow)")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-costs", action="store_true")
    args = parser.parse_args()
    if not args.skip_scale:
        folder = Path(tempfile.mkdtemp(prefix="ethan-gallery-bench-"))
        try:
            scale(args.n, args.dim, args.k, args.queries, args.hnsw, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if not args.skip_costs:
        costs(args.images)


if __name__ == "__main__":
    main()
