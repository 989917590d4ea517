"""`finetune-assistant migrate run`: retrain an open model to replace a hosted fine-tune, judged against it.

    finetune-assistant migrate record --data validation.jsonl --endpoint https://api.openai.com/v1 \
        --model ft:gpt-4o-mini:acme::abc123 --out golden/
    finetune-assistant migrate run --data train.jsonl --golden golden/ --hardware "one RTX 4090"
    finetune-assistant migrate run --data train.jsonl --golden golden/ --yes --json

Without --yes it prints the plan (an open model that fits the hardware) with the checks derived from the old
answers, and runs nothing. With --yes it trains through the same loop as `auto` (rounds until the checks
are met on validation, or the budget is spent) and reports the best round against the old model's answers
on the held-out prompts: each check's pass rate, and one sentence. --json: the last line is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from assistant.auto import AutoError, AutoResult, describe, draft, run_rounds
from assistant.migrate import MigrationError, prepare_migration
from tools._cli import fail
from tools.train.estimate import estimate
from tools.train.run_dir import RunDir
from tools.train.runs import RunError


def run_cmd(
    data: Path = typer.Option(..., help="Your OpenAI fine-tuning file (the training JSONL)."),
    golden: Path = typer.Option(..., help="The folder `migrate record` wrote (the old model's answers)."),
    validation: Path = typer.Option(None, help="The held-out file (default: the one the old model was recorded on)."),
    hardware: str = typer.Option(None, help="The machine, in words (e.g. 'laptop CPU', '1x RTX 4090'); default: this one."),
    budget_min: float = typer.Option(60.0, min=1, help="Stop starting rounds once this many minutes are spent."),
    max_rounds: int = typer.Option(3, min=1, max=20, help="At most this many training rounds."),
    output: Path = typer.Option(None, help="Folder for the prepared data and the rounds (default: a new one in the data dir)."),
    model: str = typer.Option(None, help="Open base model instead of the recommended one: a local folder or a hub id."),
    threshold: float = typer.Option(None, min=0.01, max=1.0, help="Similarity to the old answer that counts as a match (default: derived)."),
    max_new_tokens: int = typer.Option(None, min=1, max=4096, help="Longest answer generated per prompt (default: from the old answers)."),
    max_steps: int = typer.Option(None, min=1, help="Cap each round's training at this many updates (a quick trial)."),
    probe: bool = typer.Option(True, help="Time a few training steps first when this machine's speed isn't known yet."),
    yes: bool = typer.Option(False, "--yes", help="Approve the plan and run it (without it nothing trains)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
) -> None:
    """Plan an open model to replace a hosted fine-tune; with --yes, train it and compare it with the old answers."""
    try:
        migration = prepare_migration(golden, data, validation, threshold)
        drafted = draft(migration.goal, data, hardware, output, model=model, probe=probe and yes,
                        checks=(migration.criteria, migration.note), validation=migration.validation,
                        golden=migration.golden)  # fmt: skip
        if max_steps:
            plan = drafted.plan.revised(training={"max_steps": max_steps})
            drafted = drafted.model_copy(update={"plan": plan, "estimated_minutes": estimate(plan.training).duration_s / 60})
    except (MigrationError, AutoError, ValueError, OSError) as exc:
        fail(str(exc))
    typer.echo(describe(drafted))
    typer.echo(migration.describe())
    for warning in migration.warnings:
        typer.echo(f"warning: {warning}", err=True)
    drafted.plan.to_yaml(Path(drafted.output) / "plan.yaml")
    if not yes:
        typer.echo(f"Nothing was run. The plan is in {Path(drafted.output) / 'plan.yaml'}; add --yes to approve it.")
        if as_json:
            typer.echo(json.dumps({"met": False, "checks": [c.model_dump(mode="json") for c in migration.criteria.checks],
                                   "matched": 0, "total": 0, "verdict": "", "best_run_dir": "", "rounds": [],
                                   "plan": drafted.plan.model_dump(mode="json"),
                                   "estimated_minutes": round(drafted.estimated_minutes, 2)}))  # fmt: skip
        return

    def show(outcome) -> None:
        against = f"; {outcome.migration['verdict']}" if outcome.migration else ""
        typer.echo(f"round {outcome.run_dir}: {outcome.verdict}{against} ({outcome.minutes:.1f} min)", err=as_json)

    try:
        result = run_rounds(drafted, budget_min=budget_min, max_rounds=max_rounds, on_round=show,
                            eval_config=migration.eval_config(max_new_tokens))  # fmt: skip
    except (AutoError, RunError, ValueError, OSError) as exc:  # RunError: e.g. --output holds another run
        fail(str(exc))
    _report(summary(result), as_json)


def _report(found: dict[str, Any], as_json: bool) -> None:
    """The sentence, each check old vs tuned, where the report is; with --json the object last on stdout."""
    typer.echo(found["verdict"], err=as_json)
    for check in found["checks"]:
        sides = ("tuned_matches_old", "old_vs_data", "tuned_vs_data")
        rates = ", ".join(f"{name.replace('_', ' ')} {_shown(check[name])}" for name in sides)
        typer.echo(f"  - {check['summary']}: {rates}", err=as_json)
    typer.echo(f"best run: {found['best_run_dir']} (report: {found['report']})", err=as_json)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False))


def summary(result: AutoResult) -> dict[str, Any]:
    """What `migrate run --json` prints: the loop's result plus the best round's comparison with the old model."""
    report = RunDir(result.best_run_dir).eval_report() if result.best_run_dir else None
    section = (report or {}).get("migration") or {}
    against = section.get("against_reference") or {}
    checks = []
    for i, check in enumerate(section.get("criteria", {}).get("checks") or []):
        checks.append({**check, "summary": (section["checks"][i] or {}).get("check"),
                       "tuned_matches_old": _rate(section["checks"][i]),
                       "old_vs_data": _rate(_nth(against.get("old"), i)),
                       "tuned_vs_data": _rate(_nth(against.get("tuned"), i))})  # fmt: skip
    verdict = section.get("verdict") or "No round finished training, so there is no verdict on the migration."
    return {"met": bool(section.get("met")), "checks": checks, "criteria": section.get("criteria"),
            "matched": section.get("matched", 0),
            "total": section.get("total", 0), "match_rate": section.get("match_rate", 0.0), "verdict": verdict,
            "old_model": section.get("old_model"), "best_run_dir": result.best_run_dir or "",
            "report": str(RunDir(result.best_run_dir).eval_markdown_file) if report else "",
            "rounds": [r.as_json() for r in result.rounds], "stopped": result.stopped,
            "prompts": [{k: p[k] for k in ("id", "row", "prompt", "passed", "failed", "old", "tuned")}
                        for p in section.get("prompts") or []]}  # fmt: skip


def _nth(report: dict | None, i: int) -> dict:
    checks = (report or {}).get("checks") or []
    return checks[i] if i < len(checks) else {}


def _rate(result: dict) -> dict[str, Any]:
    return {"passed": result.get("passed", 0), "tested": result.get("tested", 0), "pass_rate": result.get("pass_rate")}


def _shown(rate: dict) -> str:
    return f"{rate['passed']}/{rate['tested']}" if rate["tested"] else "n/a"
