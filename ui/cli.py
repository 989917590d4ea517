"""The `finetune-assistant` command line: the web app, the terminal chat and every tool, on top of them all.

    finetune-assistant --help
    finetune-assistant ui                  # the Gradio app on 127.0.0.1:7860
    finetune-assistant quickstart --max-steps 30

This module sits at the top of the import graph (`ui` -> `assistant` -> `tools`): it assembles the stage
CLIs that live beside each stage (`tools/<stage>/cli.py`, `assistant/cli.py`), none of which imports it.
Commands import their heavy libraries inside the function body, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from assistant.cli import chat_cmd
from tools.data import cli as data_cli
from tools.deploy import cli as deploy_cli
from tools.evaluate import cli as evaluate_cli
from tools.export import cli as export_cli
from tools.models import cli as models_cli
from tools.monitor import cli as monitor_cli
from tools.quickstart import cli as quickstart_cli
from tools.serve import cli as serve_cli
from tools.train import cli as train_cli

AUTH_ENV = "FINETUNE_ASSISTANT_AUTH"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"credentials must look like user:password (got {len(value)} characters without a ':' pair)")
    return user, password


def exposure_error(host: str, share: bool, auth: tuple[str, str] | None) -> str | None:
    """Why this launch would be unsafe, or None. Anything beyond loopback needs credentials."""
    public = share or host not in ("127.0.0.1", "localhost", "::1")
    if public and auth is None:
        where = "a public share link" if share else f"host {host}"
        return (
            f"Refusing to serve on {where} without credentials: anyone who can reach it could train and "
            f"read your data. Set {AUTH_ENV}=user:password or pass --auth user:password."
        )
    return None


def ui_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; anything but loopback needs --auth."),
    port: int = typer.Option(7860, help="Port to listen on."),
    share: bool = typer.Option(False, help="Create a public Gradio share link (needs --auth)."),
    auth: str = typer.Option(None, help=f"user:password for the login page (or set {AUTH_ENV})."),
    backend: str = typer.Option("auto", help="Serving engine for comparisons: auto (vLLM, else transformers), vllm, transformers."),
    llm: str = typer.Option("auto", help="The assistant's brain: auto (an OpenAI-compatible endpoint if configured, else rules) or rules."),
) -> None:
    """Start the web app (chat, data, training, comparison)."""
    try:
        credentials = parse_auth(auth or os.environ.get(AUTH_ENV))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    problem = exposure_error(host, share, credentials)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    from pydantic import ValidationError

    from ui.app import launch
    from ui.services import AppConfig

    try:
        config = AppConfig(backend=backend, llm=llm)
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    launch(host=host, port=port, share=share, auth=credentials, config=config)


app = typer.Typer(
    name="finetune-assistant",
    help="A chat-first fine-tuning assistant: prepare data, train with TRL, compare base and tuned models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("ui")(ui_cmd)
app.command("chat")(chat_cmd)
models_cli.register(app)  # model
quickstart_cli.register(app)  # quickstart
app.add_typer(data_cli.app, name="data")  # data inspect, data prepare
train_cli.register(app)  # train, runs
serve_cli.register(app)  # serve
deploy_cli.register(app)  # deploy, keys
monitor_cli.register(app)  # monitor, monitor export, monitor bias
evaluate_cli.register(app)  # compare, eval
app.add_typer(export_cli.app, name="export")  # export zip, merge, push


def main() -> None:
    app(args=sys.argv[1:], prog_name="finetune-assistant")


if __name__ == "__main__":
    main()
