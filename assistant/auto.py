"""The goal loop: from the user's goal and data to a plan with success checks, then rounds until met.

    from assistant.auto import draft, run_rounds
    drafted = draft("when asked who it is, it says it is Ada from Lumen", "identity.jsonl", output="out/")
    print(drafted.plan.to_yaml())                       # what the user approves (checks included)
    result = run_rounds(drafted, budget_min=30, max_rounds=3)
    result.met, result.best_run_dir, [r.tuned_pass_rate for r in result.rounds]

`finetune-assistant auto` (assistant/auto_cli.py) drives the loop here; the chat drives the same round step
(`assistant.rounds`: assess, record, stop or diagnose and re-plan) from its graph (`assistant.next_round`),
one approved round at a time. Each round trains through the job queue (`tools.train.jobs.submit`),
evaluates on the locked test split with the checks, diagnoses, and proposes the next plan; rounds are
chosen on validation only (the checks' pass rate on the validation answers, then validation loss), and
the best round's test verdict is the one reported. Every round is a run folder, recorded in the `rounds`
table with its parent run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.criteria import criteria_for
from assistant.extract import extract
from assistant.recommend import Recommendation, recommend
from assistant.rounds import Loop, Round, assess, best, new_loop, rounds_of, step
from assistant.speed import ProbeError, time_steps
from assistant.state import ConversationState, apply_update
from tools import paths
from tools.data import DataSpec, inspect_data, prepare_data
from tools.evaluate.checks import SuccessCriteria
from tools.evaluate.heldout import EvalConfig, evaluate, load_examples
from tools.train import jobs, throughput
from tools.train.estimate import estimate
from tools.train.jobs import status as run_status
from tools.train.plan import Plan, TrainingPlan
from tools.train.runs import RunStatus

__all__ = ["AutoError", "AutoResult", "Drafted", "Round", "describe", "draft", "from_plan", "probe_speed", "rounds_of",
           "run_rounds"]  # fmt: skip

_LAYOUT_FOR_STATE = {"openai_chat": "chat", "sharegpt": "chat", "question_answer": "prompt_completion",
                     "prompt_completion": "prompt_completion", "alpaca": "prompt_completion", "text": "unlabelled_text",
                     "preference": "preference_pairs", "sharegpt_preference": "preference_pairs"}  # fmt: skip


class AutoError(ValueError):
    """The goal can't become a training loop (no usable data, a goal that needs no fine-tuning, ...)."""


class Drafted(BaseModel):
    """A plan ready for approval, with the words that explain it."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    plan: Plan
    note: str = Field(..., description="Where the checks came from (the user's words, or proposed from the data).")
    estimated_minutes: float
    output: str
    reasons: list[str] = Field(default_factory=list)


class AutoResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    met: bool
    checks: list[dict[str, Any]]
    best_run_dir: str | None
    rounds: list[Round]
    stopped: str

    def as_json(self) -> dict[str, Any]:
        return {"met": self.met, "checks": self.checks, "best_run_dir": self.best_run_dir or "",
                "rounds": [r.as_json() for r in self.rounds], "stopped": self.stopped}  # fmt: skip


# --- the plan -------------------------------------------------------------------------------------------


def draft(goal: str, data: str | Path, hardware: str | None = None, output: str | Path | None = None,
          model: str | None = None, probe: bool = True, checks: tuple[SuccessCriteria, str] | None = None,
          validation: str | Path | None = None, golden: str | Path | None = None) -> Drafted:  # fmt: skip
    """Read the goal with the offline interviewer, prepare the data (train/validation/locked test), and
    build the plan with its checks. Preparing writes only under `output`; nothing trains.
    `model` overrides the recommended base model (tests use a tiny one). `probe`: when this machine's speed
    for this model and technique is not cached yet, train PROBE_STEPS steps first and time them, so the
    estimate shown for approval is measured, not a FLOPs guess. `checks` (criteria, note) replaces the
    checks read from the goal; `validation` is a given validation file (OpenAI's validation_file);
    `golden` a folder of an old model's recorded answers that every round is also scored against."""
    source = Path(data).expanduser().resolve()
    if not source.exists():
        raise AutoError(f"{source}: data file not found; pass --data FILE (jsonl, csv, json, txt...).")
    out = Path(output).expanduser().resolve() if output else paths.home() / "auto" / time.strftime("%Y%m%d-%H%M%S")
    first_round = out / "rounds" / "round-1"
    if first_round.is_dir() and any(first_round.iterdir()):  # said before a minute of preparing, not after
        raise AutoError(f"{first_round} exists and is not empty; choose a new output folder (--output).")
    state = _state(goal, hardware)
    first = inspect_data(source, DataSpec(model=model or "default"))  # counts rows; the tokenizer is the model's
    state.data.location, state.data.rows = str(source), first.usable_rows
    state.data.layout = _LAYOUT_FOR_STATE.get(first.format)  # type: ignore[assignment]
    rec = recommend(state)
    if not rec.trains:
        raise AutoError(f"the assistant would not fine-tune for this goal: {rec.instead or rec.reasons}")
    spec = DataSpec(model=model or rec.model, max_length=rec.hyperparameters.get("max_length", 1024),
                    validation_file=str(Path(validation).expanduser().resolve()) if validation else None)  # fmt: skip
    report = prepare_data(source, out / "data", spec)
    if checks is None:
        rows = [(_prompt(e), e.reference) for e in load_examples(out / "data" / "train.jsonl", 1000) if e.prompt is not None]
        checks = criteria_for(state.success.criteria or goal, rows)
    criteria, note = checks
    training = _training(rec, out, report.train_rows, model)
    plan = Plan(source=str(source), source_name=source.name, data=spec, training=training, checks=criteria,
                golden=str(Path(golden).expanduser().resolve()) if golden else None)  # fmt: skip
    if probe and throughput.lookup(training) is None:
        probe_speed(training, out / "speed-probe")
    return Drafted(plan=plan, note=note, estimated_minutes=estimate(training).duration_s / 60, output=str(out),
                   reasons=rec.reasons)  # fmt: skip


def from_plan(plan: Plan, output: str | Path, note: str = "") -> Drafted:
    """A plan built elsewhere (a plan.yaml the user approved), ready for `run_rounds` headless:
    `run_rounds(from_plan(plan, out), plan.checks.budget_min or 60, plan.checks.max_rounds)`."""
    return Drafted(plan=plan, note=note, estimated_minutes=estimate(plan.training).duration_s / 60, output=str(output))


def probe_speed(training: TrainingPlan, out: Path) -> dict | None:
    """Train a few steps of `training` (same model, technique, batch, data) and cache the measured speed;
    None when they could not run (the estimate then stays the FLOPs guess)."""
    try:
        return time_steps(training, out / time.strftime("%H%M%S"))
    except ProbeError as exc:
        print(f"[finetune-assistant] could not time this machine's speed: {exc}", flush=True)
        return None


def _train(plan: Plan, poll_s: float = 2.0) -> RunStatus:
    """Submit through the job queue and wait; a run queued behind another starts when that one ends."""
    run_id = jobs.submit(plan)
    while True:
        jobs.start_next()  # the app's monitor does this; headless, the loop does
        current = run_status(run_id)
        if current.status != jobs.QUEUED and not current.active:
            return current
        time.sleep(poll_s)


def _state(goal: str, hardware: str | None) -> ConversationState:
    state = ConversationState()
    for text in (goal, hardware or ""):
        if text.strip():
            update, quotes = extract(text)
            state = apply_update(state, update, quotes, text)
    return state


def _training(rec: Recommendation, out: Path, train_rows: int, model: str | None = None) -> TrainingPlan:
    params = dict(rec.hyperparameters)
    # The recommender capped steps from an estimate made before the data was prepared; the loop's own
    # budget (--budget-min) caps rounds with this machine's measured pace instead.
    params.pop("max_steps", None)
    return TrainingPlan(base_model=model or rec.model, data_dir=str(out / "data"), objective=rec.objective, method=rec.method,
                        name=f"auto-{rec.objective}-{rec.method}", output_dir=str(out / "rounds" / "round-1"),
                        **params)  # fmt: skip


def _prompt(example) -> str:
    return next((m["content"] for m in reversed(example.messages()) if m["role"] == "user"), "")


def describe(drafted: Drafted) -> str:
    """The plan as the CLI prints it before approval."""
    t = drafted.plan.training
    lines = [f"Plan: {t.objective} + {t.method} on {t.base_model}, learning rate {t.resolved_learning_rate:.2g}, "
             f"rank {t.lora_r}, batch {t.batch_size} x accumulation {t.gradient_accumulation}, {t.epochs:g} epochs; "
             f"about {drafted.estimated_minutes:.1f} min on this machine.", drafted.note,
             f"Success checks (target {drafted.plan.checks.target:.0%} of the locked test prompts):"]  # fmt: skip
    lines += [f"  - {line}" for line in drafted.plan.checks.describe()]
    if drafted.plan.checks.prompts:
        lines.append(f"  - also asked: {', '.join(drafted.plan.checks.prompts)}")
    return "\n".join(lines)


# --- the rounds -----------------------------------------------------------------------------------------


def run_rounds(drafted: Drafted, budget_min: float = 60.0, max_rounds: int = 3,
               on_round: Callable[[Round], None] | None = None, eval_config: EvalConfig | None = None) -> AutoResult:  # fmt: skip
    """Train, evaluate, diagnose and re-plan until the checks are met on validation, or out of rounds/minutes.

    The round step (assess, record, stop or re-plan) is `assistant.rounds`, the same one the chat takes."""
    loop = new_loop(drafted.plan, budget_min, max_rounds, output=drafted.output)
    plan, rounds, stopped = drafted.plan, [], "out of rounds"
    eval_config = eval_config or EvalConfig(max_examples=32, max_new_tokens=48)
    while True:
        planned = loop.planned_minutes(plan.training, drafted.estimated_minutes)
        refused = loop.no_room(planned)
        if refused:
            stopped = refused
            break
        loop = loop.begin(planned)
        outcome = _one_round(plan, loop, eval_config)
        rounds.append(outcome)
        loop, decided = step(loop, plan, outcome)
        if on_round:
            on_round(outcome)
        if decided.stopped:
            stopped = decided.stopped
            break
        plan = decided.plan
    chosen = best(rounds)
    return AutoResult(met=bool(chosen and chosen.met), checks=[c.model_dump(mode="json") for c in drafted.plan.checks.checks],
                      best_run_dir=chosen.run_dir if chosen else None, rounds=rounds, stopped=stopped)  # fmt: skip


def _one_round(plan: Plan, loop: Loop, eval_config: EvalConfig) -> Round:
    """Train through the job queue (without the job's own evaluation), then evaluate with the loop's settings."""
    clock = time.time()
    status = _train(plan.revised(source=None, evaluate=False))  # draft() prepared the data (and its locked test split)
    minutes = (time.time() - clock) / 60
    report = None
    if status.status == "completed":
        throughput.record(plan.training, status.run_dir)  # the next estimate uses this run's own pace
        report = evaluate(status.run_dir, eval_config.model_copy(update={"checks": plan.checks}))
    return assess(plan, status, report, loop, minutes)
