"""``ethan models``: the local model presets (size, downloaded or not, where), and
``ethan models pull NAME`` to download one ahead of a run."""

from __future__ import annotations

from typing import Annotated

import typer

from ethan.cli.app import app, err, fail

models_app = typer.Typer(help="List, and download, the local model presets.")
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context) -> None:
    """List the presets: size, downloaded or not, and the folder of their files."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from ethan.backends.llama_download import APPROX_MB, human_size, preset_state
    from ethan.backends.llama_presets import PRESETS, models_dir
    from ethan.defaults import DEFAULT_PRESET

    table = Table("name", "model", "size", "downloaded", title=f"presets in {models_dir()}")
    table.add_column("path", overflow="fold")
    for name, preset in PRESETS.items():
        state = preset_state(preset)
        if state.size is not None:
            size = human_size(state.size)
        elif name in APPROX_MB:
            size = f"~{human_size(APPROX_MB[name] * 1e6)}"
        else:
            size = "?"
        partial = any(f.path is not None for f in state.files) and not state.downloaded
        downloaded = "yes" if state.downloaded else ("partly" if partial else "no")
        label = f"{name} (default)" if name == DEFAULT_PRESET else name
        table.add_row(label, preset.description, size, downloaded, str(state.folder))
    Console(soft_wrap=True).print(table)
    err.print(
        "download one with: ethan models pull NAME; use it with: ethan locate PHOTO "
        "--backend llama-cpp --model NAME",
        highlight=False,
    )


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="Preset name (see: ethan models).")],
) -> None:
    """Download a preset's model and vision projector into the user cache."""
    from ethan.backends.llama_download import download_preset, human_size
    from ethan.backends.llama_presets import PRESETS, preset_names
    from ethan.errors import EthanError

    preset = PRESETS.get(name)
    if preset is None:
        fail(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    try:
        model, mmproj = download_preset(preset, console=err)
    except EthanError as exc:
        fail(str(exc))
    size = model.stat().st_size + mmproj.stat().st_size
    err.print(f"{name}: {human_size(size)} in {model.parent}", highlight=False)
    typer.echo(model)
    typer.echo(mmproj)
