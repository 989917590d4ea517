"""`finetune-assistant train` and `finetune-assistant runs`.

    finetune-assistant train PLAN.yaml
    finetune-assistant train --model default --data DIR --method lora --max-steps 100 --output RUN_DIR
    finetune-assistant train --resume RUN_DIR
    finetune-assistant runs

`train` estimates memory first (and refuses a plan that won't fit unless --force), launches the run in its
own process and follows it with a progress bar showing the loss; Ctrl-C cancels gracefully (checkpoint kept).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from tools._cli import fail



def train_cmd(
    plan_file: Path = typer.Argument(None, help="A plan YAML (e.g. a run folder's plan.yaml)."),
    model: str = typer.Option(None, "--model", help="Base model: 'default', a local folder or a hub id."),
    data: Path = typer.Option(None, "--data", help="Prepared dataset folder (train.jsonl, report.json)."),
    method: str = typer.Option(None, help="full | lora | qlora | dora | prompt_tuning | prefix_tuning"),
    objective: str = typer.Option(None, help="sft | dpo | orpo | kto | continued_pretraining"),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Stop after N optimizer steps."),
    epochs: float = typer.Option(None, help="Passes over the training data."),
    learning_rate: float = typer.Option(None, "--learning-rate", "--lr", help="Default: recommended for the method."),
    batch_size: int = typer.Option(None, "--batch-size", min=1),
    max_length: int = typer.Option(None, "--max-length", min=16),
    output: Path = typer.Option(None, "--output", help="Run folder (default: <data dir>/runs/<run id>)."),
    resume_dir: str = typer.Option(None, "--resume", help="Continue a cancelled or failed run (its folder or id)."),
    detach: bool = typer.Option(False, "--detach", help="Print the run id and return; the run keeps going."),
    force: bool = typer.Option(False, "--force", help="Launch even if the estimate says it won't fit."),
    as_json: bool = typer.Option(False, "--json", help="Print the final status as JSON."),
) -> None:
    """Train with TRL in a separate process: from a plan file, from options, or resume a run."""
    from tools.train.launch import RunError, launch, resume, status
    from tools.train.plan import PlanError

    try:
        if resume_dir:
            run_id = resume(resume_dir)
        else:
            plan = _plan_from_args(plan_file, dict(
                base_model=model, data_dir=str(data) if data else None, method=method, objective=objective,
                max_steps=max_steps, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                max_length=max_length, output_dir=str(output) if output else None))
            _check_estimate(plan, force)
            run_id = launch(plan)
    except (PlanError, RunError) as exc:
        fail(str(exc))
    info = status(run_id)
    typer.echo(f"run {run_id} started in {info.run_dir}", err=True)
    if detach:
        typer.echo(run_id)
        return
    final = follow(run_id)
    if as_json:
        typer.echo(final.model_dump_json())
    if final.status == "failed":
        fail(f"run {run_id} failed: {final.error or 'see ' + str(Path(final.run_dir) / 'stdout.log')}", code=1)
    if final.status == "cancelled":
        typer.echo(f"cancelled at step {final.step}; resume with: finetune-assistant train --resume {final.run_dir}")
    elif not as_json:
        typer.echo(f"done: {final.output_dir} (model card: {Path(final.run_dir) / 'README.md'})")


def _plan_from_args(plan_file: Path | None, options: dict):
    from tools.train.plan import Plan, PlanError, build_plan

    given = {k: v for k, v in options.items() if v is not None}
    if plan_file is not None:
        # The approved plan's dump (source, data, training) or a bare training plan (older run folders).
        plan = Plan.from_yaml(plan_file)
        if plan.source is not None:
            raise PlanError(f"{plan_file}: this plan prepares {plan.data_name} first; prepare it with "
                            f"`finetune-assistant data prepare {plan.source} --out {plan.training.data_dir}`, "
                            "then drop `source` from the plan (or approve it in the app, which runs both).")
        base = plan.training.model_dump(exclude_unset=True)
        return build_plan({**base, **given}, where=str(plan_file))
    if "data_dir" not in given:
        raise PlanError("give a plan file (finetune-assistant train PLAN.yaml) or --data DIR with a prepared dataset folder.")
    # launch() writes the plan it used to RUN_DIR/plan.yaml.
    return build_plan(given, where="options")


def _check_estimate(plan, force: bool) -> None:
    from tools.train.estimate import estimate

    try:
        est = estimate(plan)
    except Exception as exc:  # an estimate is advice; never block a run because it could not be made
        typer.echo(f"estimate unavailable: {exc}", err=True)
        return
    typer.echo(f"estimate: {est.summary()}", err=True)
    if est.verdict == "won't fit" and not force:
        fail(f"this plan needs ~{est.peak_memory_gb:.1f} GB but the machine has {est.available_gb:.1f} GB. "
             f"{est.suggestion or ''} (--force launches anyway)")


def follow(run_id: str, poll_s: float = 0.5):
    """A progress bar (step/total, loss, ETA) until the run ends; Ctrl-C asks it to stop gracefully."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tools.train.launch import cancel, status

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("eval {task.fields[eval_loss]}"), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("training", total=None, loss="-", eval_loss="-")
        while True:
            try:
                info = status(run_id)
                bar.update(task, total=info.total_steps, completed=info.step, description=info.status,
                           loss=_fmt(info.loss), eval_loss=_fmt(info.eval_loss))
                if not info.active:
                    return info
                time.sleep(poll_s)
            except KeyboardInterrupt:
                bar.console.print("cancelling: finishing the current step and saving a checkpoint ...")
                cancel(run_id)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def runs_cmd(as_json: bool = typer.Option(False, "--json", help="Print the runs as a JSON list.")) -> None:
    """List training runs with their status, progress and loss."""
    from rich.console import Console
    from rich.table import Table

    from tools.train.launch import list_runs

    items = list_runs()
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in items]))
        return
    if not items:
        typer.echo("no runs yet; start one with: finetune-assistant train --data DIR --method lora --output RUN_DIR")
        return
    table = Table("run", "status", "technique", "step", "loss", "eval loss", "folder")
    for r in items:
        state = r.status + (" (resumable)" if r.resumable else "")
        steps = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
        table.add_row(r.run_id, state, f"{r.objective} {r.method}", steps, _fmt(r.loss), _fmt(r.eval_loss), r.run_dir)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    """Attach `train` and `runs` to the main CLI."""
    app.command("train")(train_cmd)
    app.command("runs")(runs_cmd)
