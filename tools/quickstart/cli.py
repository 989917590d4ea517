"""CLI command `quickstart`: a few LoRA steps on the shipped demo data, then base vs tuned.

    finetune-assistant quickstart --max-steps 30
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from tools._cli import fail
from tools.models.resolve import ModelNotFoundError
from tools.quickstart.demo import DEMO_PROMPT, quickstart


def quickstart_cmd(
    model: str = typer.Option("default", help="Base model: 'default', a local folder or a hub id."),
    max_steps: int = typer.Option(30, min=1, help="LoRA SFT steps on the demo data."),
    prompt: str = typer.Option(None, help="Prompt answered by the base and the tuned model."),
    out: Path = typer.Option(None, help="Output folder (default: <data dir>/runs/quickstart)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Fine-tune on the shipped demo data for a few steps and show the base and tuned answers."""
    try:
        result = quickstart(model=model, out_dir=out, max_steps=max_steps, prompt=prompt or DEMO_PROMPT)
    except (ModelNotFoundError, OSError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(asdict(result)))
        return
    typer.echo(f"loss: {result.first_loss:.3f} -> {result.last_loss:.3f} over {len(result.losses)} steps")
    typer.echo(f"adapter: {result.adapter_dir}")
    typer.echo(f"prompt: {result.prompt}\n--- base ---\n{result.base_answer}\n--- tuned ---\n{result.tuned_answer}")


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart_cmd)
