"""The goal loop: from the user's goal and data to a plan with success checks, then rounds until met.

    from assistant.auto import draft, run_rounds
    drafted = draft("when asked who it is, it says it is Ada from Lumen", "identity.jsonl", output="out/")
    print(drafted.plan.to_yaml())                       # what the user approves (checks included)
    result = run_rounds(drafted, budget_min=30, max_rounds=3)
    result.met, result.best_run_dir, [r.tuned_pass_rate for r in result.rounds]

`finetune-assistant auto` (assistant/auto_cli.py) and the chat (one call to `run_rounds` after approval)
share this loop. Each round trains through the job queue (`tools.train.jobs.submit`), evaluates on the
locked test split with the checks, diagnoses, and proposes the next plan; rounds are chosen on
validation only (the checks' pass rate on the validation answers, then validation loss), and the best
round's test verdict is the one reported. Every round is a run folder, recorded in the `rounds` table
with its parent run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.criteria import criteria_for
from assistant.extract import extract
from assistant.recommend import Recommendation, recommend
from assistant.state import ConversationState, apply_update
from tools import paths, store
from tools.data import DataSpec, inspect_data, prepare_data
from tools.evaluate.checks import SuccessCriteria
from tools.evaluate.heldout import EvalConfig, evaluate, load_examples
from tools.train import jobs, throughput
from tools.train.diagnose import diagnose, next_plan
from tools.train.estimate import estimate
from tools.train.jobs import status as run_status
from tools.train.plan import Plan, TrainingPlan
from tools.train.run_dir import RunDir
from tools.train.runs import RunStatus

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


class Round(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    run_dir: str
    parent_run_id: str | None = None
    plan: dict[str, Any]
    estimated_minutes: float
    minutes: float
    status: str
    base_pass_rate: float = 0.0
    tuned_pass_rate: float = 0.0
    validation_pass_rate: float | None = None
    validation_loss: float | None = None
    met: bool = False
    verdict: str = ""
    diagnosis: str = ""
    next_reasons: list[str] = Field(default_factory=list)
    probe_flag: str | None = None
    migration: dict[str, Any] | None = None  # [migrate] matched/total against the old model's answers

    def as_json(self) -> dict[str, Any]:
        """The shape `auto --json` promises for each round."""
        line = {"run_dir": self.run_dir, "plan": self.plan, "estimated_minutes": round(self.estimated_minutes, 2),
                "minutes": round(self.minutes, 2), "base": {"pass_rate": self.base_pass_rate},
                "tuned": {"pass_rate": self.tuned_pass_rate}, "met": self.met, "diagnosis": self.diagnosis,
                "verdict": self.verdict, "validation_pass_rate": self.validation_pass_rate,
                "status": self.status, "next": self.next_reasons, "probe_flag": self.probe_flag}  # fmt: skip
        return line | ({"migration": self.migration} if self.migration else {})


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
    """A plan the chat already built and the user approved, ready for `run_rounds` (the chat's entry point:
    `run_rounds(from_plan(plan, out), plan.checks.budget_min or 60, plan.checks.max_rounds)`)."""
    return Drafted(plan=plan, note=note, estimated_minutes=estimate(plan.training).duration_s / 60, output=str(output))


PROBE_STEPS = 6


def probe_speed(training: TrainingPlan, out: Path) -> dict | None:
    """Train a few steps of `training` (same model, technique, batch, data) and cache the measured speed."""
    fields = {**training.model_dump(), "max_steps": PROBE_STEPS, "eval_split": "none", "eval_steps": None,
              "save_steps": 10_000, "output_dir": str(out / time.strftime("%H%M%S")), "name": "speed-probe"}  # fmt: skip
    status = _train(Plan(training=TrainingPlan(**fields), evaluate=False))
    return throughput.record(training, status.run_dir) if status.status == "completed" else None


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
    """Train, evaluate, diagnose and re-plan until the checks are met on validation, or out of rounds/minutes."""
    started, loop_id = time.time(), uuid.uuid4().hex[:8]
    plan, rounds, parent, stopped = drafted.plan, [], None, "out of rounds"
    per_update: float | None = None
    eval_config = eval_config or EvalConfig(max_examples=32, max_new_tokens=48)
    for number in range(1, max_rounds + 1):
        left = budget_min - (time.time() - started) / 60
        planned = _planned_minutes(plan.training, drafted, per_update, number)
        if number > 1 and planned > left:
            stopped = f"out of budget: round {number} needs about {planned:.1f} min, {left:.1f} min left"
            break
        outcome = _one_round(plan, parent, planned, eval_config)
        rounds.append(outcome)
        _record(loop_id, number, outcome)
        if on_round:
            on_round(outcome)
        if outcome.status != "completed":
            stopped = f"round {number} {outcome.status}"
            break
        per_update = outcome.minutes / max(1, _updates(outcome.run_dir))
        if (outcome.validation_pass_rate or 0) >= plan.checks.target:
            stopped = "met on validation"
            break
        found = diagnose(_metrics(outcome.run_dir), plan.training, _train_rows(plan), plan.training.data_dir,
                         fits_but_fails=True)  # fmt: skip
        left = budget_min - (time.time() - started) / 60
        plan, reasons = next_plan(plan, found, minutes_left=left, minutes_per_update=per_update)
        outcome.diagnosis, outcome.next_reasons = found.summary(), reasons
        _record(loop_id, number, outcome)
        plan = _next_output(plan, drafted, number + 1)
        parent = outcome.run_id
    best = _best(rounds)
    return AutoResult(met=bool(best and best.met), checks=[c.model_dump(mode="json") for c in drafted.plan.checks.checks],
                      best_run_dir=best.run_dir if best else None, rounds=rounds, stopped=stopped)  # fmt: skip


def _one_round(plan: Plan, parent: str | None, planned: float, eval_config: EvalConfig) -> Round:
    clock = time.time()
    # The loop evaluates each round itself (its checks, on test, with its shorter settings), not the job.
    status = _train(plan.revised(source=None, evaluate=False))  # draft() prepared the data (and its locked test split)
    run_id = status.run_id
    minutes = (time.time() - clock) / 60
    if status.status == "completed":
        throughput.record(plan.training, status.run_dir)  # the next estimate uses this run's own pace
    outcome = Round(run_id=run_id, run_dir=status.run_dir, parent_run_id=parent, plan=plan.model_dump(mode="json"),
                    estimated_minutes=planned, minutes=minutes, status=status.status)  # fmt: skip
    if status.status != "completed":
        outcome.verdict = f"Training {status.status}: {status.error or 'see stdout.log in the run folder'}"
        return outcome
    report = evaluate(status.run_dir, eval_config.model_copy(update={"checks": plan.checks}))
    checked = report["checks"] or {}
    verdict = checked.get("verdict") or {}
    outcome.base_pass_rate, outcome.tuned_pass_rate = verdict.get("base_pass_rate", 0.0), verdict.get("tuned_pass_rate", 0.0)
    outcome.met, outcome.verdict = bool(verdict.get("met")), report["verdict"]
    outcome.validation_pass_rate = (checked.get("validation") or {}).get("tuned")
    outcome.validation_loss = report["metrics"]["tuned"]["loss"]
    outcome.probe_flag = (report.get("probe") or {}).get("flag")
    migrated = report.get("migration")
    if migrated:
        outcome.migration = {k: migrated.get(k) for k in ("matched", "total", "match_rate", "met", "verdict")}
    return outcome


def _planned_minutes(training: TrainingPlan, drafted: Drafted, per_update: float | None, number: int) -> float:
    """Round 1: the estimator's figure; later rounds: this machine's measured minutes per update."""
    if number == 1 or per_update is None:
        return drafted.estimated_minutes if number == 1 else estimate(training).duration_s / 60
    return per_update * estimate(training).total_steps


def _next_output(plan: Plan, drafted: Drafted, number: int) -> Plan:
    out = str(Path(drafted.output) / "rounds" / f"round-{number}")
    training = TrainingPlan(**{**plan.training.model_dump(), "output_dir": out})
    return plan.model_copy(update={"training": training})


def _best(rounds: list[Round]) -> Round | None:
    """Chosen on validation only: the checks' pass rate on validation answers, then the lower validation loss."""
    done = [r for r in rounds if r.status == "completed"]
    if not done:
        return None
    return max(done, key=lambda r: (r.validation_pass_rate or 0.0, -(r.validation_loss or 0.0)))


def _metrics(run_dir: str) -> list[dict]:
    return RunDir(run_dir).metrics()


def _updates(run_dir: str) -> int:
    return max((r.get("step") or 0 for r in _metrics(run_dir)), default=0)


def _train_rows(plan: Plan) -> int:
    try:
        report = json.loads((Path(plan.training.data_dir) / "report.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 0
    return int(report.get("train_rows") or 0)


def _record(loop_id: str, number: int, outcome: Round) -> None:
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (outcome.run_id, loop_id, number, outcome.parent_run_id, int(outcome.met),
                    outcome.validation_pass_rate, outcome.tuned_pass_rate, outcome.diagnosis, time.time()))  # fmt: skip


def rounds_of(run_id: str) -> list[dict]:
    """Every round of the loop that `run_id` belongs to, in order (for the UI's side-by-side view)."""
    with store.connect() as db:
        row = db.execute("SELECT loop_id FROM rounds WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return []
        return [dict(r) for r in db.execute("SELECT * FROM rounds WHERE loop_id = ? ORDER BY round", (row["loop_id"],))]
