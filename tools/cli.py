"""The `finetune-assistant` command line: every tool usable without the UI.

    finetune-assistant --help
    finetune-assistant quickstart --max-steps 30
    finetune-assistant model default

Commands import their heavy libraries inside the function body, so `--help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(
    name="finetune-assistant",
    help="A chat-first fine-tuning assistant: prepare data, train with TRL, compare base and tuned models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 2) -> None:
    """Print a plain error (no traceback) and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("model")
def model_cmd(name: str = typer.Argument("default", help="'default', a local folder or a Hugging Face hub id.")) -> None:
    """Resolve a model to a local folder (converting the embedded default on first use) and print it."""
    from tools.models import ModelNotFoundError, resolve_model

    try:
        typer.echo(resolve_model(name))
    except ModelNotFoundError as exc:
        fail(str(exc))


@app.command("quickstart")
def quickstart_cmd(
    model: str = typer.Option("default", help="Base model: 'default', a local folder or a hub id."),
    max_steps: int = typer.Option(30, min=1, help="LoRA SFT steps on the demo data."),
    prompt: str = typer.Option(None, help="Prompt answered by the base and the tuned model."),
    out: Path = typer.Option(None, help="Output folder (default: <data dir>/runs/quickstart)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Fine-tune on the shipped demo data for a few steps and show the base and tuned answers."""
    from dataclasses import asdict

    from tools.models import ModelNotFoundError
    from tools.quickstart import DEMO_PROMPT, quickstart

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


def _register_commands() -> None:
    # Each command module imports its heavy libraries inside the command, so these imports stay cheap.
    from assistant.cli import chat_cmd
    from tools import export_cli, serve_cli
    from tools.data import cli as data_cli
    from tools.train import cli as train_cli
    from ui.cli import ui_cmd

    app.command("ui")(ui_cmd)
    app.command("chat")(chat_cmd)
    app.add_typer(data_cli.app, name="data")  # data inspect, data prepare
    train_cli.register(app)  # train, runs
    serve_cli.register(app)  # serve, compare, eval
    app.add_typer(export_cli.app, name="export")  # export zip, merge, push


_register_commands()


def main() -> None:
    app(args=sys.argv[1:], prog_name="finetune-assistant")


if __name__ == "__main__":
    main()
