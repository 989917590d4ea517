"""`finetune-assistant export zip|merge|push RUN`: take a trained run out of the app."""

from __future__ import annotations

import os

import typer

from tools._cli import fail
from tools.export.bundle import ExportError, merge_adapter, push_to_hub, zip_output
from tools.train.jobs import status
from tools.train.runs import RunError

app = typer.Typer(help="Download, merge or publish a trained run.", no_args_is_help=True)


def _run_dir(run: str) -> str:
    try:
        return status(run).run_dir
    except RunError as exc:
        fail(str(exc))


def _guard(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ExportError, OSError) as exc:  # OSError: an output folder that holds other files, a full disk
        fail(str(exc))


@app.command("zip")
def zip_cmd(run: str = typer.Argument(..., help="Run id or run folder.")) -> None:
    """Zip the run's adapter (or model) folder for download."""
    typer.echo(_guard(zip_output, _run_dir(run)))


@app.command("merge")
def merge_cmd(run: str = typer.Argument(..., help="Run id or run folder."),
              out: str = typer.Option(None, help="Output folder (default: <run>/merged).")) -> None:
    """Merge the LoRA adapter into the base weights: a standalone transformers model folder."""
    typer.echo(_guard(merge_adapter, _run_dir(run), out))


@app.command("push")
def push_cmd(
    run: str = typer.Argument(..., help="Run id or run folder."),
    repo: str = typer.Option(..., help="Hub repo id, e.g. you/my-support-bot."),
    token: str = typer.Option(None, help="Write token (default: $HF_TOKEN). Never stored or printed."),
    public: bool = typer.Option(False, help="Create the repo public (default private)."),
    merged: bool = typer.Option(False, help="Push the merged model instead of the adapter."),
    overwrite: bool = typer.Option(False, help="Upload into a repo that already exists (it may be public)."),
) -> None:
    """Upload the adapter (or merged model) and its model card to the Hugging Face Hub."""
    url = _guard(push_to_hub, _run_dir(run), repo, token or os.environ.get("HF_TOKEN", ""), private=not public,
                 merged=merged, overwrite=overwrite)
    typer.echo(url)
