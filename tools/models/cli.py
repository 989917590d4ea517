"""CLI command `model`: resolve a model name to a local folder.

    finetune-assistant model default      # converts the embedded SmolLM2 once, prints its folder
    python -m tools.models default        # the same, for the Makefile (no typer app needed)
"""

from __future__ import annotations

import typer

from tools._cli import fail
from tools.models.resolve import ModelNotFoundError, resolve_model


def model_cmd(name: str = typer.Argument("default", help="'default', a local folder or a Hugging Face hub id.")) -> None:
    """Resolve a model to a local folder (converting the embedded default on first use) and print it."""
    try:
        typer.echo(resolve_model(name))
    except ModelNotFoundError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    app.command("model")(model_cmd)
