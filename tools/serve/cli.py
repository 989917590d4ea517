"""CLI command `serve` (registered on the `finetune-assistant` app).

    finetune-assistant serve --base default --adapter tuned=runs/r1/adapter
"""

from __future__ import annotations

import signal
import time

import typer

from tools._cli import BACKEND_HELP as _BACKEND_HELP
from tools._cli import fail
from tools.models.resolve import ModelNotFoundError
from tools.serve.backends import BackendName, open_backend
from tools.serve.openai_server import serve_backend
from tools.serve.server import ServeConfig, ServeError


def user_errors() -> tuple[type[BaseException], ...]:
    """Failures a user can act on (a bad path, a model that isn't there, a server that can't be reached)."""
    import queue

    import httpx
    from pydantic import ValidationError

    return (ServeError, ModelNotFoundError, FileNotFoundError, PermissionError, ValueError, KeyError, ValidationError,
            httpx.HTTPError, TimeoutError, queue.Empty)  # fmt: skip


def _parse_adapters(items: list[str]) -> dict[str, str]:
    adapters = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            fail(f"--adapter '{item}' must be NAME=PATH, e.g. tuned=runs/r1/adapter")
        adapters[name] = path
    return adapters


def check_backend(backend: str) -> str:
    from typing import get_args

    choices = get_args(BackendName)
    if backend not in choices:
        fail(f"--backend must be one of {', '.join(choices)}, not '{backend}'")
    return backend


def _exit_on_sigterm(signum, frame) -> None:
    # `kill`, systemd and container stops send SIGTERM: unwind like Ctrl-C so `finally` stops the vLLM server.
    raise SystemExit(0)


def serve_cmd(
    base: str = typer.Option("default", help="Base model: 'default', a local folder or a hub id."),
    adapter: list[str] = typer.Option(None, help="NAME=PATH of an adapter or fully fine-tuned model; repeatable."),
    backend: str = typer.Option("auto", help=_BACKEND_HELP),
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0: a free one)."),
) -> None:
    """Serve the base model and tuned models on an OpenAI-compatible URL until Ctrl-C (or SIGTERM)."""
    adapters = _parse_adapters(adapter)
    # Installed before the start too: a SIGTERM during vLLM's minute of startup must not orphan it.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _serve(base, adapters, check_backend(backend), port)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(base: str, adapters: dict[str, str], backend: str, port: int) -> None:
    try:
        opened = open_backend(base, adapters, backend, ServeConfig(port=port or None))
    except user_errors() as exc:
        fail(str(exc))
    http = None
    try:
        if opened.kind == "vllm":
            url = opened.url
        else:
            http = serve_backend(opened, port)
            url = f"http://127.0.0.1:{http.server_address[1]}"
        if opened.fallback_reason:
            typer.echo(f"note: {opened.fallback_reason}", err=True)
        typer.echo(f"Serving {', '.join(opened.models())} with {opened.kind} at {url}/v1 (Ctrl-C stops)", err=False)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        if http is not None:
            http.shutdown()
        opened.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
