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
from pathlib import Path

import typer
from pydantic import ValidationError

from assistant.auto_cli import auto_cmd
from assistant.cli import chat_cmd
from assistant.migrate_cli import run_cmd as migrate_run_cmd
from assistant.retention import keep_days
from tools.data import cli as data_cli
from tools.deploy import cli as deploy_cli
from tools.evaluate import cli as evaluate_cli
from tools.export import cli as export_cli
from tools.migrate import cli as migrate_cli
from tools.models import cli as models_cli
from tools.monitor import cli as monitor_cli
from tools.quickstart import cli as quickstart_cli
from tools.serve import cli as serve_cli
from tools.serve.shared import pool_limits
from tools.train import cli as train_cli
from ui.guard import LOOPBACK, login_ttl_s

AUTH_ENV = "FINETUNE_ASSISTANT_AUTH"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"credentials must look like user:password (got {len(value)} characters without a ':' pair)")
    return user, password


def exposure_error(host: str, share: bool, auth: dict[str, str] | tuple[str, str] | None,
                   no_token: bool = False) -> str | None:  # fmt: skip
    """Why this launch would be unsafe, or None. Anything beyond loopback needs credentials and the token."""
    public = share or host not in LOOPBACK
    where = "a public share link" if share else f"host {host}"
    if public and auth is None:
        return (
            f"Refusing to serve on {where} without credentials: anyone who can reach it could train and "
            f"read your data. Set {AUTH_ENV}=user:password or pass --auth-file FILE (holding user:password)."
        )
    if public and no_token:
        return f"--no-token is for loopback only; on {where} the access token stays required."
    return None


def read_auth(auth: str | None, auth_file: Path | None) -> dict[str, str] | None:
    """Logins (user -> password) from --auth-file, --auth or the environment, in that order; never echoed.

    The file holds one `user:password` per line (blank lines and `#` comments skipped): several users,
    each seeing only their own conversations, uploads, runs and votes."""
    if auth_file is not None:
        try:
            lines = auth_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"can't read --auth-file {auth_file}: {exc.strerror}") from None
        pairs = [parse_auth(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not pairs:
            raise ValueError(f"--auth-file {auth_file} holds no user:password line")
        return dict(pairs)  # type: ignore[arg-type]
    pair = parse_auth(auth or os.environ.get(AUTH_ENV))
    return dict([pair]) if pair else None


def ui_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; anything but loopback needs --auth."),
    port: int = typer.Option(7860, help="Port to listen on."),
    share: bool = typer.Option(False, help="Create a public Gradio share link (needs --auth)."),
    auth: str = typer.Option(None, help=f"user:password for the login page; visible in `ps`, prefer {AUTH_ENV} or --auth-file."),
    auth_file: Path = typer.Option(None, help="A file with one user:password per line for the login page (keep it 0600)."),
    no_token: bool = typer.Option(False, "--no-token", help="Don't require the per-start access token (loopback only; for scripts)."),
    allowed_host: list[str] = typer.Option([], help="Another host name the app may be reached by (e.g. behind a proxy)."),
    backend: str = typer.Option("auto", help="Serving engine for comparisons: auto (vLLM, else transformers), vllm, transformers."),
    llm: str = typer.Option("auto", help="The assistant's brain: auto (an OpenAI-compatible endpoint if configured, else rules) or rules."),
) -> None:
    """Start the web app (chat, data, training, comparison)."""
    try:
        credentials = read_auth(auth, auth_file)
        # A bad setting is said now, not as a traceback at launch or on the first chat.
        pool_limits()  # FINETUNE_ASSISTANT_MAX_ENGINES / _MAX_ADAPTERS
        keep_days()  # FINETUNE_ASSISTANT_KEEP_CONVERSATIONS_DAYS
        login_ttl_s()  # FINETUNE_ASSISTANT_LOGIN_HOURS
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    problem = exposure_error(host, share, credentials, no_token)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    if share:
        typer.echo("warning: a share link is a demo mode: anyone with the link reaches the login page through "
                   "Gradio's relay; use a TLS reverse proxy for a team server.", err=True)
    # Gradio takes seconds to import: only this command pays for it (every other command stays fast).
    from ui.app import launch
    from ui.services import AppConfig

    try:
        config = AppConfig(backend=backend, llm=llm)
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    launch(host=host, port=port, share=share, auth=credentials, config=config, token=None if no_token else "",
           extra_hosts=tuple(allowed_host))


app = typer.Typer(
    name="finetune-assistant",
    help="A chat-first fine-tuning assistant: prepare data, train with TRL, compare base and tuned models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("ui")(ui_cmd)
app.command("chat")(chat_cmd)
app.command("auto")(auto_cmd)  # [checks] the goal loop, headless
models_cli.register(app)  # model
quickstart_cli.register(app)  # quickstart
app.add_typer(data_cli.app, name="data")  # data inspect, data prepare
train_cli.register(app)  # train, runs
serve_cli.register(app)  # serve
deploy_cli.register(app)  # deploy, keys
monitor_cli.register(app)  # monitor, monitor export, monitor bias
evaluate_cli.register(app)  # compare, eval
app.add_typer(export_cli.app, name="export")  # export zip, merge, push
migrate_cli.app.command("run")(migrate_run_cmd)  # the planning loop lives in assistant, the recorder in tools
app.add_typer(migrate_cli.app, name="migrate")  # migrate record, migrate run


def main() -> None:
    app(args=sys.argv[1:], prog_name="finetune-assistant")


if __name__ == "__main__":
    main()
