"""Helpers every stage CLI shares: a plain error exit and the backend choice.

A leaf module: it imports nothing of the project, so the stage CLIs (`tools/*/cli.py`) can use it and the
root command line (`ui/cli.py`) can assemble them without an import cycle.
"""

from __future__ import annotations

from typing import NoReturn

import typer

BACKEND_HELP = "vllm, transformers, or auto (vLLM when it starts, else transformers)."


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a plain error (no traceback) and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
