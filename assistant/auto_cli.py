"""`finetune-assistant auto`: the goal loop, headless, for scripts and CI.

    finetune-assistant auto --goal "when asked who it is, it says it is Ada from Lumen" --data identity.jsonl
    finetune-assistant auto --goal ... --data ... --yes --budget-min 30 --max-rounds 3 --json

Without --yes it prints the plan with its success checks and runs nothing (it only prepares the data
under --output, to read it). With --yes (the approval) it trains, evaluates and runs rounds until the
checks are met or the budget is spent. With --json the last line of stdout is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assistant.auto import AutoError, describe, draft, run_rounds
from tools._cli import fail
from tools.train.runs import RunError


def auto_cmd(
    goal: str = typer.Option(..., help="What the tuned model should do, in your words (include how to tell success)."),
    data: Path = typer.Option(..., help="Your examples: a jsonl/csv/json/txt file or folder."),
    hardware: str = typer.Option(None, help="The machine, in words (e.g. 'laptop CPU', '1x RTX 4090'); default: this one."),
    budget_min: float = typer.Option(None, min=1, help="Stop starting rounds once this many minutes are spent "
                                     "(default: what the goal says, else 60)."),
    max_rounds: int = typer.Option(None, min=1, max=20, help="At most this many training rounds (default: what the goal says, else 3)."),
    output: Path = typer.Option(None, help="Folder for the prepared data and the rounds (default: a new one in the data dir)."),
    model: str = typer.Option(None, help="Base model instead of the recommended one: a local folder or a hub id."),
    probe: bool = typer.Option(True, help="Time a few training steps first when this machine's speed isn't known yet."),
    yes: bool = typer.Option(False, "--yes", help="Approve the plan and run it (without it nothing trains)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object as the last line."),
) -> None:
    """From a goal and data to a plan with success checks; with --yes, train rounds until the checks are met."""
    try:
        drafted = draft(goal, data, hardware, output, model=model, probe=probe and yes)
    except (AutoError, ValueError, OSError) as exc:
        fail(str(exc))
    typer.echo(describe(drafted))
    if not yes:
        typer.echo(f"Nothing was run. The plan is in {Path(drafted.output) / 'plan.yaml'}; add --yes to approve it.")
        drafted.plan.to_yaml(Path(drafted.output) / "plan.yaml")
        if as_json:
            typer.echo(json.dumps({"met": False, "checks": [c.model_dump(mode="json") for c in drafted.plan.checks.checks],
                                   "best_run_dir": "", "rounds": [], "plan": drafted.plan.model_dump(mode="json"),
                                   "estimated_minutes": round(drafted.estimated_minutes, 2)}))  # fmt: skip
        return
    drafted.plan.to_yaml(Path(drafted.output) / "plan.yaml")

    def show(outcome) -> None:
        typer.echo(f"round {outcome.run_dir}: {outcome.verdict} ({outcome.minutes:.1f} min, estimated "
                   f"{outcome.estimated_minutes:.1f})", err=as_json)  # fmt: skip
        if outcome.probe_flag:
            typer.echo(f"  general skills: {outcome.probe_flag}", err=as_json)
        offered = (outcome.validation_pass_rate or 0.0) >= drafted.plan.checks.target and outcome.next_reasons
        if offered:  # met on validation with reasons: a gentler round, offered; headless runs never start it
            typer.echo("  worth a try if it must keep them (not run): " + " ".join(outcome.next_reasons), err=as_json)

    # The goal's own "keep going until met, at most N rounds or M minutes" when the flags don't say.
    checks = drafted.plan.checks
    rounds = max_rounds or (checks.max_rounds if checks.max_rounds > 1 else 3)
    budget = budget_min or checks.budget_min or 60.0
    try:
        result = run_rounds(drafted, budget_min=budget, max_rounds=rounds, on_round=show)
    except (AutoError, RunError, ValueError, OSError) as exc:  # RunError: e.g. --output holds another run
        fail(str(exc))
    typer.echo(f"{'Met' if result.met else 'Not met'} after {len(result.rounds)} round(s) ({result.stopped}); "
               f"best run: {result.best_run_dir}", err=as_json)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
