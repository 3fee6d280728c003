"""``ethan gallery``: build a retrieval gallery of geo-tagged photos (for ``--rag``).

The encoders need the ``baselines`` extra (PyTorch); they are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ethan.cli.app import app, err, fail
from ethan.errors import EthanError

gallery_app = typer.Typer(
    help="Retrieval galleries: geo-tagged photos embedded for --rag.", no_args_is_help=True
)
app.add_typer(gallery_app, name="gallery")


@gallery_app.command("build")
def build_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV/JSONL) of images + truth.")],
    out: Annotated[Path, typer.Option(help="Gallery folder to write.")],
    encoder: Annotated[
        str,
        typer.Option(
            help="random or random:DIM:SEED (tests), open_clip:MODEL@PRETRAINED, hf:NAME, clip, "
            "streetclip; queries are embedded with the same one."
        ),
    ],
    images_root: Annotated[
        Path | None, typer.Option(help="Folder the manifest's image names are in.")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Manifest layout (im2gps3k...).")] = None,
    index: Annotated[
        Literal["exact", "ivf", "hnsw"],
        typer.Option(help="exact: no index (scan); ivf/hnsw: a faiss index (ethan[ann])."),
    ] = "exact",
    cache: Annotated[bool, typer.Option(help="Use the embedding cache.")] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per encoder call.")] = 32,
    device: Annotated[str, typer.Option(help="Where the encoder runs: cpu, cuda...")] = "cpu",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing gallery.")] = False,
) -> None:
    """Embed a manifest's geo-tagged images into a gallery (embeddings, points, hashes,
    place names from city/region/country columns)."""
    try:
        from ethan.baselines.embeddings import EmbeddingCache, create_encoder
        from ethan.eval.datasets import load_dataset
        from ethan.rag import build_gallery

        dataset = load_dataset(manifest, images_root=images_root, preset=preset)
        if dataset.problems:
            err.print(f"[yellow]{len(dataset.problems)} row(s) skipped[/yellow] in {manifest}")
        model = create_encoder(encoder, device=device)
        store = EmbeddingCache() if cache else None
        progress = Progress(
            TextColumn("[bold]embedding"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err,
        )  # fmt: skip
        try:
            with progress:
                task = progress.add_task("embedding", total=len(dataset.samples))
                report = build_gallery(
                    dataset, model, out, encoder_spec=encoder, cache=store,
                    index=None if index == "exact" else index, overwrite=overwrite,
                    batch_size=batch_size,
                    on_progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
        finally:
            if store is not None:
                store.close()
    except EthanError as exc:
        fail(str(exc))
    for image_id, why in list(report.skipped.items())[:10]:
        err.print(f"  skipped {image_id}: {why}", highlight=False)
    err.print(
        f"wrote a gallery of {report.count} images to {out} ({report.encoded} encoded, "
        f"{report.cached} from the cache, {len(report.skipped)} skipped)"
    )


@gallery_app.command("info")
def info_command(path: Annotated[Path, typer.Argument(help="Gallery folder.")]) -> None:
    """Print a gallery's description (encoder, size, index) as JSON."""
    from ethan.gallery import Gallery

    try:
        with Gallery(path, search="exact") as gallery:
            typer.echo(json.dumps(gallery.info.model_dump(mode="json"), indent=2))
    except EthanError as exc:
        fail(str(exc))
