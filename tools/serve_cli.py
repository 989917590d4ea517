"""CLI commands `serve`, `compare` and `eval` (registered on the `finetune-assistant` app).

    finetune-assistant serve --base default --adapter tuned=runs/r1/adapter
    finetune-assistant compare --base default --adapter runs/r1/adapter --prompt "Hi" --json
    finetune-assistant eval runs/r1
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import typer


def fail(message: str) -> None:
    # tools.cli imports this module while it registers commands, so fetch its `fail` at call time.
    from tools.cli import fail as cli_fail

    cli_fail(message)


_BACKEND_HELP = "vllm, transformers, or auto (vLLM when it starts, else transformers)."


def _user_errors() -> tuple[type[BaseException], ...]:
    """Failures a user can act on (a bad path, a model that isn't there, a server that can't be reached)."""
    import queue

    import httpx
    from pydantic import ValidationError

    from tools.models import ModelNotFoundError
    from tools.serve import ServeError

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


def _check_backend(backend: str) -> str:
    from typing import get_args

    from tools.backends import BackendName

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
        _serve(base, adapters, _check_backend(backend), port)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(base: str, adapters: dict[str, str], backend: str, port: int) -> None:
    from tools.backends import open_backend
    from tools.serve import ServeConfig

    try:
        opened = open_backend(base, adapters, backend, ServeConfig(port=port or None))
    except _user_errors() as exc:
        fail(str(exc))
    http = None
    try:
        if opened.kind == "vllm":
            url = opened.url
        else:
            from tools.openai_server import serve_backend

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


def compare_cmd(
    base: str = typer.Option("default", help="Base model: 'default', a local folder or a hub id."),
    adapter: Path = typer.Option(..., help="The tuned model: a PEFT adapter folder or a fully fine-tuned model folder."),
    prompt: str = typer.Option(..., help="The prompt both models answer."),
    system: str = typer.Option(None, help="An optional system message for both."),
    backend: str = typer.Option("auto", help=_BACKEND_HELP),
    max_tokens: int = typer.Option(256, min=1, help="Most new tokens per answer."),
    temperature: float = typer.Option(0.0, min=0.0, max=2.0, help="0: greedy."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer one prompt with the base and the tuned model, concurrently, with the same settings."""
    from tools.backends import Sampling, open_backend
    from tools.compare import compare

    try:
        opened = open_backend(base, {"tuned": str(adapter)}, _check_backend(backend))
    except _user_errors() as exc:
        fail(str(exc))
    try:
        result = compare(opened, prompt, "tuned", sampling=Sampling(max_tokens=max_tokens, temperature=temperature),
                         system=system)  # fmt: skip
    except _user_errors() as exc:
        fail(str(exc))
    finally:
        opened.close()
    out = {"base": result.answers["base"], "tuned": result.answers["tuned"], "prompt": prompt, "backend": opened.kind,
           "fallback_reason": opened.fallback_reason, "models": result.models, "sampling": result.sampling,
           "seconds": result.seconds}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if opened.fallback_reason:
        typer.echo(f"note: {opened.fallback_reason}", err=True)
    typer.echo(f"prompt: {prompt}\n--- base ---\n{out['base']}\n--- tuned ---\n{out['tuned']}")


def eval_cmd(
    run_dir: Path = typer.Argument(..., help="A training run folder (with plan.yaml and adapter/ or model/)."),
    max_examples: int = typer.Option(64, min=1, help="Validation rows to use."),
    max_new_tokens: int = typer.Option(128, min=1, help="Most new tokens per generated answer."),
    backend: str = typer.Option("transformers", help=_BACKEND_HELP),
    judge_url: str = typer.Option(None, help="OpenAI-compatible URL of a judge model (enables the judge win rate)."),
    judge_model: str = typer.Option(None, help="The judge's model name."),
    judge_key_env: str = typer.Option("OPENAI_API_KEY", help="Env var holding the judge's API key."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Evaluate a run on its validation split (loss, perplexity, exact match, F1, ROUGE-L, judge) vs its base."""
    from tools.evaluate import EvalConfig, JudgeConfig, evaluate

    if bool(judge_url) != bool(judge_model):
        fail("--judge-url and --judge-model go together; give both or neither")
    try:
        judge = JudgeConfig(url=judge_url, model=judge_model, api_key_env=judge_key_env) if judge_url else None
        config = EvalConfig(max_examples=max_examples, max_new_tokens=max_new_tokens,
                            backend=_check_backend(backend), judge=judge)  # fmt: skip
        report = evaluate(run_dir, config)
    except _user_errors() as exc:
        fail(str(exc))
    judged = report.get("judge") or {}
    if judged.get("failed"):
        typer.echo(f"note: the judge failed on {judged['failed']} of {report['generated']} examples "
                   f"({judged['error']}); those count as unjudged", err=True)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    typer.echo(report["verdict"])
    typer.echo(f"report: {Path(report['run_dir']) / 'eval' / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("compare")(compare_cmd)
    app.command("eval")(eval_cmd)
