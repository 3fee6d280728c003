"""``ethan baseline``: geocells, embeddings, a geocell classifier and GeoCLIP, writing
predictions files that ``ethan eval --predictions`` and ``ethan compare`` score.

The heavy modules (PyTorch, s2cell) are imported inside the commands, so ``ethan`` runs
without the ``baselines`` extra and these commands say how to install it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from ethan.cli.app import app, err, fail
from ethan.errors import EthanError

if TYPE_CHECKING:
    from ethan.baselines.outputs import Item
    from ethan.types import Prediction

baseline_app = typer.Typer(
    help="Classifier baselines (geocells, haversine smoothing, GeoCLIP) in the same harness.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")

DATA = "Data"
CELLS = "Geocells"
TRAIN = "Training"

ImagesRoot = Annotated[
    Path | None,
    typer.Option(rich_help_panel=DATA, help="Folder the manifest's image names are in."),
]
Preset = Annotated[str | None, typer.Option(rich_help_panel=DATA, help="Manifest layout.")]
Embeddings = Annotated[
    Path | None,
    typer.Option(
        rich_help_panel=DATA, help="Precomputed embeddings .npy (its manifest: NAME.ids.csv)."
    ),
]
Encoder = Annotated[
    str | None,
    typer.Option(
        rich_help_panel=DATA,
        help="random[:DIM[:SEED]], open_clip:MODEL[@PRETRAINED], hf:NAME, clip, streetclip.",
    ),
]
Cache = Annotated[bool, typer.Option(rich_help_panel=DATA, help="Use the embedding cache.")]
Threads = Annotated[int | None, typer.Option(min=1, help="PyTorch CPU threads.")]
Device = Annotated[str, typer.Option(help="Where the encoder runs: cpu, cuda, mps...")]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except EthanError as exc:
        fail(str(exc))


@contextmanager
def _embedding_progress(total: int, needed: bool = True) -> Iterator[Callable[[int], None] | None]:
    """A progress bar for embedding ``total`` images: yields the ``on_batch`` callback
    (None when nothing is embedded, e.g. with precomputed --embeddings)."""
    if not needed or total == 0:
        yield None
        return
    from ethan.cli.progress import batch_progress

    with batch_progress("embedding") as progress:
        task = progress.add_task("embedding", total=total, stats="")
        yield lambda n: progress.update(task, advance=n)


def _threads(threads: int | None) -> None:
    if threads is not None:
        try:
            import torch
        except ImportError:
            from ethan.baselines.errors import missing_torch

            raise missing_torch() from None
        torch.set_num_threads(threads)


def _items(
    source: Path, images_root: Path | None, preset: str | None, need_images: bool = True
) -> list[Item]:
    """Items of a manifest (ids and images; the truth is not read) or of photos/folders.
    With precomputed embeddings (``need_images=False``) the manifest's images may be absent."""
    from ethan.baselines.outputs import Item
    from ethan.images import iter_image_files

    if source.is_file() and source.suffix.lower() in (".csv", ".jsonl", ".ndjson", ".tsv"):
        from ethan.baselines.runs import dataset_items
        from ethan.eval.datasets import load_dataset

        dataset = load_dataset(
            source, images_root=images_root, preset=preset, require_images=need_images
        )
        _problems(len(dataset.problems), dataset.source)
        return dataset_items(dataset)
    return [Item(image=str(p), id=p.name) for p in iter_image_files([source])]


def _problems(count: int, source: str) -> None:
    if count:
        err.print(f"[yellow]{count} row(s) skipped[/yellow] in {source}")


def _write(out: Path, predictions: list[Prediction], overwrite: bool) -> None:
    from ethan.results import PredictionWriter

    with PredictionWriter(out, overwrite=overwrite) as writer:
        for prediction in predictions:
            writer.write(prediction)
    ok = sum(p.ok for p in predictions)
    err.print(f"wrote {len(predictions)} predictions ({ok} ok) to {out}")


@baseline_app.command("cells")
def cells_command(
    manifest: Annotated[Path, typer.Argument(help="Training manifest (its points are used).")],
    out: Annotated[Path, typer.Option(help="Geocells JSON to write.")],
    kind: Annotated[
        Literal["semantic", "s2"], typer.Option(rich_help_panel=CELLS, help="Cell kind.")
    ] = "semantic",
    max_count: Annotated[int, typer.Option(min=1, rich_help_panel=CELLS)] = 1000,
    min_count: Annotated[int, typer.Option(min=1, rich_help_panel=CELLS)] = 50,
    small: Annotated[
        Literal["merge", "drop"],
        typer.Option(rich_help_panel=CELLS, help="s2: what happens to cells below min-count."),
    ] = "merge",
    preset: Preset = None,
    plot: Annotated[Path | None, typer.Option(help="Also draw the cells to this PNG.")] = None,
) -> None:
    """Build PlaNet (s2) or PIGEON-style (semantic) geocells from a manifest's points."""
    import numpy as np

    from ethan.baselines.partitions import build_partition
    from ethan.eval.datasets import load_dataset

    with _errors():
        data = load_dataset(manifest, preset=preset, require_images=False)
        lats = np.asarray([s.lat for s in data.samples])
        lons = np.asarray([s.lon for s in data.samples])
        options = {"small": small} if kind == "s2" else {}
        partition, labels = build_partition(
            lats, lons, kind=kind, max_count=max_count, min_count=min_count, **options
        )
        partition.save(out)
        if plot is not None:
            from ethan.baselines.plot import plot_partition

            plot_partition(partition, plot, lats=lats, lons=lons, labels=labels)
    err.print(json.dumps(partition.stats()))
    err.print(f"wrote {out}" + (f" and {plot}" if plot else ""))


@baseline_app.command("plot")
def plot_command(
    cells: Annotated[Path, typer.Argument(help="Geocells JSON.")],
    out: Annotated[Path, typer.Option(help="PNG to write.")],
    truth: Annotated[Path | None, typer.Option(help="Manifest whose points to draw.")] = None,
) -> None:
    """Draw a geocells file (and a manifest's points) as a PNG."""
    import numpy as np

    from ethan.baselines.geocells import Partition
    from ethan.baselines.plot import plot_partition
    from ethan.eval.datasets import load_dataset

    with _errors():
        partition = Partition.load(cells)
        lats = lons = None
        if truth is not None:
            data = load_dataset(truth, require_images=False)
            lats = np.asarray([s.lat for s in data.samples])
            lons = np.asarray([s.lon for s in data.samples])
        plot_partition(partition, out, lats=lats, lons=lons)
    err.print(f"wrote {out}")


@baseline_app.command("embed")
def embed_command(
    source: Annotated[Path, typer.Argument(help="Manifest, photo folder or photo.")],
    out: Annotated[Path, typer.Option(help="Embeddings .npy to write (+ NAME.ids.csv).")],
    encoder: Encoder = "random",
    images_root: ImagesRoot = None,
    preset: Preset = None,
    cache: Cache = True,
    threads: Threads = None,
    device: Device = "cpu",
) -> None:
    """Embed images once; train and predict can then read the .npy (--embeddings)."""
    with _errors():
        _threads(threads)
        from ethan.baselines.embeddings import write_embeddings
        from ethan.baselines.runs import embed_items

        items = _items(source, images_root, preset)
        with _embedding_progress(len(items)) as on_batch:
            embedded = embed_items(
                items, encoder=encoder, cache=cache, device=device, on_batch=on_batch
            )
        keep = [i for i in range(len(items)) if i not in embedded.errors]
        write_embeddings(
            out,
            [items[i].id or Path(items[i].image).name for i in keep],
            [items[i].image for i in keep],
            embedded.vectors[keep],
        )
    for i, why in list(embedded.errors.items())[:10]:
        err.print(f"  skipped {items[i].image}: {why}", highlight=False)
    err.print(
        f"wrote {len(keep)} embeddings to {out} ({embedded.encoded} encoded, "
        f"{embedded.cached} from the cache, {len(embedded.errors)} skipped)"
    )


@baseline_app.command("train")
def train_command(
    manifest: Annotated[Path, typer.Argument(help="Training manifest (images + truth).")],
    out: Annotated[Path, typer.Option(help="Model folder to write.")],
    images_root: ImagesRoot = None,
    preset: Preset = None,
    embeddings: Embeddings = None,
    encoder: Encoder = None,
    cells: Annotated[
        str, typer.Option(rich_help_panel=CELLS, help="semantic, s2, or a geocells JSON.")
    ] = "semantic",
    max_count: Annotated[int, typer.Option(min=1, rich_help_panel=CELLS)] = 1000,
    min_count: Annotated[int, typer.Option(min=1, rich_help_panel=CELLS)] = 50,
    small: Annotated[Literal["merge", "drop"], typer.Option(rich_help_panel=CELLS)] = "merge",
    smoothing: Annotated[
        Literal["haversine", "onehot"], typer.Option(rich_help_panel=TRAIN)
    ] = "haversine",
    tau: Annotated[
        float, typer.Option(min=0.001, rich_help_panel=TRAIN, help="Smoothing scale in km.")
    ] = 75.0,
    hidden: Annotated[
        int, typer.Option(min=0, rich_help_panel=TRAIN, help="Hidden units; 0: linear.")
    ] = 512,
    epochs: Annotated[int, typer.Option(min=1, rich_help_panel=TRAIN)] = 30,
    batch_size: Annotated[int, typer.Option(min=1, rich_help_panel=TRAIN)] = 256,
    lr: Annotated[float, typer.Option(min=0, rich_help_panel=TRAIN)] = 2e-3,
    seed: Annotated[int, typer.Option(rich_help_panel=TRAIN)] = 0,
    cache: Cache = True,
    threads: Threads = None,
    device: Device = "cpu",
    plot: Annotated[bool, typer.Option(help="Draw the cells to MODEL/cells.png.")] = False,
) -> None:
    """Train a geocell classifier head on frozen embeddings (haversine smoothing)."""
    with _errors():
        _threads(threads)
        from ethan.baselines.classifier import TrainConfig
        from ethan.baselines.runs import train_baseline
        from ethan.eval.datasets import load_dataset

        data = load_dataset(
            manifest, images_root=images_root, preset=preset, require_images=embeddings is None
        )
        _problems(len(data.problems), data.source)
        config = TrainConfig(
            smoothing=smoothing, tau_km=tau, hidden=hidden, epochs=epochs,
            batch_size=batch_size, lr=lr, seed=seed,
        )  # fmt: skip
        with _embedding_progress(len(data.samples), embeddings is None) as on_batch:
            model, report = train_baseline(
                data, encoder=encoder, embeddings=embeddings, cells=cells, max_count=max_count,
                min_count=min_count, small=small, config=config, cache=cache, device=device,
                on_batch=on_batch,
            )  # fmt: skip
        model.save(out)
        (out / "train.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if plot:
            from ethan.baselines.plot import plot_partition

            ref = model.reference
            plot_partition(
                model.partition, out / "cells.png", lats=ref.lats, lons=ref.lons, labels=ref.labels
            )
    stats = report["cells"]
    err.print(
        f"trained on {report['embedded']} images ({len(report['skipped'])} skipped): "
        f"{stats['cells']} {stats['kind']} cells, final loss {report['final_loss']:.4f}, "
        f"{report['train_s']:.1f} s; wrote {out}"
    )


@baseline_app.command("predict")
def predict_command(
    source: Annotated[Path, typer.Argument(help="Manifest, photo folder or photo.")],
    model: Annotated[Path, typer.Option(help="Model folder from ethan baseline train.")],
    out: Annotated[Path, typer.Option(help="Predictions JSONL to write.")],
    images_root: ImagesRoot = None,
    preset: Preset = None,
    embeddings: Embeddings = None,
    encoder: Annotated[
        str | None, typer.Option(rich_help_panel=DATA, help="Override the model's encoder.")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Hypotheses per image.")] = 5,
    refine: Annotated[
        Literal["retrieval", "centroid"],
        typer.Option(help="Point inside a cell: nearest training images, or its centroid."),
    ] = "retrieval",
    names: Annotated[bool, typer.Option(help="Name each point (country, region).")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    cache: Cache = True,
    threads: Threads = None,
    device: Device = "cpu",
) -> None:
    """Predict with a trained classifier: top-k cells with probabilities, refined."""
    with _errors():
        _threads(threads)
        from ethan.baselines.classifier import GeoCellClassifier
        from ethan.baselines.runs import predict_baseline

        trained = GeoCellClassifier.load(model)
        items = _items(source, images_root, preset, need_images=embeddings is None)
        with _embedding_progress(len(items), embeddings is None) as on_batch:
            predictions = predict_baseline(
                trained, items, encoder=encoder, embeddings=embeddings, top_k=top_k,
                refine=refine, names=names, cache=cache, device=device, on_batch=on_batch,
            )  # fmt: skip
        _write(out, predictions, overwrite)


@baseline_app.command("geoclip")
def geoclip_command(
    source: Annotated[Path, typer.Argument(help="Manifest, photo folder or photo.")],
    out: Annotated[Path, typer.Option(help="Predictions JSONL to write.")],
    images_root: ImagesRoot = None,
    preset: Preset = None,
    top_k: Annotated[int, typer.Option(min=1, help="Hypotheses per image.")] = 5,
    device: Device = "cpu",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
) -> None:
    """Run GeoCLIP (pip install geoclip) and write its top-k with probabilities."""
    with _errors():
        from ethan.baselines.geoclip import GeoCLIPPredictor

        items = _items(source, images_root, preset)
        predictor = GeoCLIPPredictor(top_k=top_k, device=device)
        _write(out, list(predictor.predict(items)), overwrite)
