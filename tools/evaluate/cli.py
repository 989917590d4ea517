"""CLI commands `compare` and `eval` (registered on the `finetune-assistant` app).

    finetune-assistant compare --base default --adapter runs/r1/adapter --prompt "Hi" --json
    finetune-assistant eval runs/r1
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tools._cli import BACKEND_HELP as _BACKEND_HELP
from tools._cli import fail
from tools.evaluate.compare import compare
from tools.evaluate.heldout import EvalConfig, JudgeConfig, evaluate
from tools.serve.backends import Sampling, open_backend
from tools.serve.cli import check_backend, user_errors
from tools.train.run_dir import RunDir


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
    try:
        opened = open_backend(base, {"tuned": str(adapter)}, check_backend(backend))
    except user_errors() as exc:
        fail(str(exc))
    try:
        result = compare(opened, prompt, "tuned", sampling=Sampling(max_tokens=max_tokens, temperature=temperature),
                         system=system)  # fmt: skip
    except user_errors() as exc:
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
    run_dir: Path = typer.Argument(..., help="A training run folder (with its plan and adapter/ or model/)."),
    max_examples: int = typer.Option(64, min=1, help="Validation rows to use."),
    max_new_tokens: int = typer.Option(128, min=1, help="Most new tokens per generated answer."),
    backend: str = typer.Option("transformers", help=_BACKEND_HELP),
    judge_url: str = typer.Option(None, help="OpenAI-compatible URL of a judge model (enables the judge win rate)."),
    judge_model: str = typer.Option(None, help="The judge's model name."),
    judge_key_env: str = typer.Option("OPENAI_API_KEY", help="Env var holding the judge's API key."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Evaluate a run on its validation split (loss, perplexity, exact match, F1, ROUGE-L, judge) vs its base."""
    if bool(judge_url) != bool(judge_model):
        fail("--judge-url and --judge-model go together; give both or neither")
    try:
        judge = JudgeConfig(url=judge_url, model=judge_model, api_key_env=judge_key_env) if judge_url else None
        config = EvalConfig(max_examples=max_examples, max_new_tokens=max_new_tokens,
                            backend=check_backend(backend), judge=judge)  # fmt: skip
        report = evaluate(run_dir, config)
    except user_errors() as exc:
        fail(str(exc))
    judged = report.get("judge") or {}
    if judged.get("failed"):
        typer.echo(f"note: the judge failed on {judged['failed']} of {report['generated']} examples "
                   f"({judged['error']}); those count as unjudged", err=True)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    typer.echo(report["verdict"])
    typer.echo(f"report: {RunDir(report['run_dir']).eval_markdown_file}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
    app.command("eval")(eval_cmd)
