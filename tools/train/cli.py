"""`finetune-assistant train` and `finetune-assistant runs`.

    finetune-assistant train PLAN.yaml
    finetune-assistant train --model default --data DIR --method lora --max-steps 100 --output RUN_DIR
    finetune-assistant train --resume RUN_DIR
    finetune-assistant train PLAN.yaml --detach     # prints the run id and returns; the job goes on
    finetune-assistant runs                         # queued runs too
    finetune-assistant cancel RUN

`train` estimates memory first (and refuses a plan that won't fit unless --force), submits the plan to the
job queue (`tools.train.jobs`: one run at a time on this machine, whoever started the other one), waits
while another run trains, then follows its run with a progress bar showing the loss. Ctrl-C while queued
leaves the job queued; Ctrl-C while training cancels gracefully (checkpoint kept).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from tools._cli import fail
from tools.train import jobs
from tools.train.estimate import estimate
from tools.train.plan import Plan, PlanError, TrainingPlan, build_plan
from tools.train.run_dir import RunDir
from tools.train.runs import FINAL, RunError, RunStatus


def train_cmd(
    plan_file: Path = typer.Argument(None, help="A plan YAML (e.g. the plan file in a run folder, or a bare TrainingPlan)."),
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
    evaluate: bool = typer.Option(None, "--eval/--no-eval",
                                  help="Evaluate base vs tuned on the held-out split after training "
                                       "(default: what the plan file says; off without one)."),
    resume_dir: str = typer.Option(None, "--resume", help="Continue a cancelled or failed run (its folder or id)."),
    detach: bool = typer.Option(False, "--detach", help="Print the run id and its state, and return; the job goes on."),
    force: bool = typer.Option(False, "--force", help="Launch even if the estimate says it won't fit."),
    as_json: bool = typer.Option(False, "--json", help="Print the final status as JSON."),
) -> None:
    """Train with TRL in a separate process, one run at a time: while another run trains, this one waits
    in the queue. From a plan file, from options, or resume a run."""
    try:
        if resume_dir:
            run_id = jobs.resume(resume_dir)
        else:
            plan = _plan_from_args(plan_file, dict(
                base_model=model, data_dir=str(data) if data else None, method=method, objective=objective,
                max_steps=max_steps, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                max_length=max_length, output_dir=str(output) if output else None), evaluate)
            _check_estimate(plan.training, force)
            run_id = jobs.submit(plan)
    except (PlanError, RunError) as exc:
        fail(str(exc))
    info = jobs.status(run_id)
    typer.echo(_where(info), err=True)
    if detach:
        typer.echo(run_id)
        return
    if info.waiting:
        info = _wait_in_queue(run_id)
    final = follow(run_id) if info.status not in FINAL else info
    if as_json:
        typer.echo(final.model_dump_json())
    if final.status == "failed":
        log = RunDir(final.run_dir).log_file
        fail(f"run {run_id} failed: {final.error or 'see ' + str(log)}", code=1)
    if final.status == "cancelled":
        typer.echo(f"cancelled at step {final.step}; resume with: finetune-assistant train --resume {final.run_dir}")
    elif not as_json:
        run = RunDir(final.run_dir)
        typer.echo(f"done: {final.output_dir} (model card: {run.card_file})")
        if final.error:  # completed, but its evaluation did not
            typer.echo(final.error, err=True)
        elif final.evaluated:
            typer.echo(f"evaluation: {(run.eval_report() or {}).get('verdict', '')} ({run.eval_markdown_file})")


def _where(info: RunStatus) -> str:
    """Where a new job stands: started, or queued behind which run and at what position."""
    if not info.waiting:
        return f"run {info.run_id} {info.phase} in {info.run_dir}"
    ahead = jobs.training_now()
    behind = f"behind run {ahead.run_id} ({ahead.phase})" if ahead else "behind the runs ahead of it"
    return (f"run {info.run_id} is queued at position {jobs.queue_position(info.run_id)}, {behind}; "
            "one run trains at a time, and this one starts when the machine is free.")


def _wait_in_queue(run_id: str, poll_s: float = 1.0) -> RunStatus:
    """Wait while the job is queued. Ctrl-C leaves it queued (it still runs later) and says so."""
    shown = None
    try:
        while True:
            info = jobs.status(run_id)
            if not info.waiting:
                typer.echo(f"run {run_id} left the queue: {info.phase}", err=True)
                return info
            jobs.start_next()  # the run ahead may have died before handing over
            position = jobs.queue_position(run_id)
            if position != shown and shown is not None:
                typer.echo(_where(info), err=True)
            shown = position
            time.sleep(poll_s)
    except KeyboardInterrupt:
        typer.echo(f"\nstopped waiting; run {run_id} stays queued and starts when the machine is free. "
                   f"Follow it with `finetune-assistant runs`, or take it out with `finetune-assistant cancel {run_id}`.",
                   err=True)
        raise typer.Exit(130) from None


def _plan_from_args(plan_file: Path | None, options: dict, evaluate: bool | None) -> Plan:
    given = {k: v for k, v in options.items() if v is not None}
    if plan_file is not None:
        base = Plan.from_yaml(plan_file)
        return base.revised(training=given, evaluate=base.evaluate if evaluate is None else evaluate)
    if "data_dir" not in given:
        raise PlanError("give a plan file (finetune-assistant train PLAN.yaml) or --data DIR with a prepared dataset folder.")
    # The job writes the plan it ran into its run folder, so the run can be reproduced from there.
    return Plan(training=build_plan(given, where="options"), evaluate=bool(evaluate))


def _check_estimate(plan: TrainingPlan, force: bool) -> None:
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

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("eval {task.fields[eval_loss]}"), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("training", total=None, loss="-", eval_loss="-")
        while True:
            try:
                info = jobs.status(run_id)
                bar.update(task, total=info.total_steps, completed=info.step, description=info.phase,
                           loss=_fmt(info.loss), eval_loss=_fmt(info.eval_loss))
                if info.status in FINAL:
                    return info
                time.sleep(poll_s)
            except KeyboardInterrupt:
                bar.console.print("cancelling: finishing the current step and saving a checkpoint ...")
                jobs.cancel(run_id)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def runs_cmd(as_json: bool = typer.Option(False, "--json", help="Print the runs as a JSON list.")) -> None:
    """List training runs with their status, progress and loss."""
    from rich.console import Console
    from rich.table import Table

    items = jobs.list_runs()
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in items]))
        return
    if not items:
        typer.echo("no runs yet; start one with: finetune-assistant train --data DIR --method lora --output RUN_DIR")
        return
    table = Table("run", "status", "technique", "step", "loss", "eval loss", "folder")
    for r in items:
        position = jobs.queue_position(r.run_id) if r.waiting else None
        state = r.phase + (f" (#{position} in line)" if position else "") + (" (resumable)" if r.resumable else "")
        steps = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
        table.add_row(r.run_id, state, f"{r.objective} {r.method}", steps, _fmt(r.loss), _fmt(r.eval_loss), r.run_dir)
    Console(width=200).print(table)


def cancel_cmd(run: str = typer.Argument(..., help="Run id or run folder."),
               wait_s: float = typer.Option(0, "--wait", help="Seconds to wait for it to stop.")) -> None:
    """Cancel a run: a queued one leaves the queue; a training one stops after its step with a checkpoint."""
    try:
        info = jobs.cancel(run, wait_s=wait_s)
    except RunError as exc:
        fail(str(exc))
    typer.echo(f"run {info.run_id}: {info.phase}" + (f" ({info.error})" if info.error else ""))


def register(app: typer.Typer) -> None:
    """Attach `train`, `runs` and `cancel` to the main CLI."""
    app.command("train")(train_cmd)
    app.command("runs")(runs_cmd)
    app.command("cancel")(cancel_cmd)
