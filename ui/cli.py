"""`finetune-assistant ui`: start the Gradio app, refusing unsafe exposure without credentials."""

from __future__ import annotations

import os

import typer

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
