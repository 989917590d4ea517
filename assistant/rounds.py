"""The round step of the goal loop, shared by the chat and `finetune-assistant auto`.

    from assistant.rounds import assess, new_loop, step
    loop = new_loop(plan, budget_min=30, max_rounds=3)       # what the user approved with the plan
    outcome = assess(plan, run_status, eval_report, loop)   # a finished run + its evaluation -> a Round
    loop, decided = step(loop, plan, outcome)               # record it, stop, or diagnose and re-plan
    decided.stopped or decided.plan                         # why the loop ends, or the next round's plan

After each run: score it (the checks on the locked test split, as the evaluation wrote them), record it in
the store's `rounds` table linked to its parent run (and in the run folder's run.json, for the side-by-side
views), then stop when the checks pass on validation or the run failed; otherwise diagnose the curves and
the data and plan the next round with reasons. Whether that next round starts without asking (the user
approved "keep going until met, at most N rounds or M minutes") is `loop.no_room(...)`: the headless loop
and the chat ask the same question. Rounds decide on validation only; the test verdict is what is reported.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools import store
from tools.train.diagnose import diagnose, gentler_plan, next_plan
from tools.train.estimate import estimate
from tools.train.plan import Plan, TrainingPlan
from tools.train.run_dir import RunDir


class Round(BaseModel):
    """One round: a run, its estimate and measured minutes, base vs tuned on the checks, and what came next."""

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
    failing: dict[str, str] | None = Field(
        None, description="One tuned answer that fails a check: prompt, answer, why."
    )
    migration: dict[str, Any] | None = None  # [migrate] matched/total against the old model's answers

    def as_json(self) -> dict[str, Any]:
        """The shape `auto --json` promises for each round."""
        line = {"run_dir": self.run_dir, "plan": self.plan, "estimated_minutes": round(self.estimated_minutes, 2),
                "minutes": round(self.minutes, 2), "base": {"pass_rate": self.base_pass_rate},
                "tuned": {"pass_rate": self.tuned_pass_rate}, "met": self.met, "diagnosis": self.diagnosis,
                "verdict": self.verdict, "validation_pass_rate": self.validation_pass_rate,
                "status": self.status, "next": self.next_reasons, "probe_flag": self.probe_flag}  # fmt: skip
        return line | ({"migration": self.migration} if self.migration else {})


class Loop(BaseModel):
    """Where one goal's rounds stand. JSON-friendly: the chat keeps it in its checkpointed graph state."""

    model_config = ConfigDict(extra="forbid")

    loop_id: str
    started: float
    max_rounds: int = Field(1, ge=1, le=20)
    budget_min: float | None = None
    number: int = Field(0, description="Rounds started so far.")
    parent: str | None = Field(None, description="The run id of the last finished round.")
    planned: float = Field(0.0, description="The estimated minutes of the round now running.")
    per_update: float | None = Field(
        None, description="Minutes per optimizer update, measured on the last round."
    )
    output: str | None = Field(
        None, description="Folder for round-N run folders; None: each run its own default."
    )
    # The rounds and minutes are counted from the approval that granted them ("keep going, at most 3 rounds"
    # said after round 2 means three more), so a new grant restarts both counts.
    granted_at: int = Field(0, description="Rounds already done when the current budget was approved.")
    data_key: str | None = Field(
        None, description="What the rounds' data was prepared from (the chat skips preparing it again)."
    )
    met_round: dict[str, Any] | None = Field(
        None, description="The met round a gentler one was offered after (round, run_id, run_dir); offered once."
    )

    def offer_open(self) -> bool:
        """A gentler round was offered after the last round and no round has started since."""
        return bool(self.met_round) and self.met_round["round"] == self.number

    def minutes_left(self) -> float | None:
        return None if self.budget_min is None else self.budget_min - (time.time() - self.started) / 60

    def planned_minutes(self, training: TrainingPlan, first_estimate: float | None = None) -> float:
        """Round 1: the estimate shown for approval; later rounds: this machine's measured minutes per update."""
        if self.number == 0 and first_estimate is not None:
            return first_estimate
        if self.per_update is None:
            return estimate(training).duration_s / 60
        return self.per_update * estimate(training).total_steps

    def no_room(self, planned: float) -> str | None:
        """Why the next round may not start without asking (None: it may). The first round always may."""
        if self.number == 0:
            return None
        if self.number - self.granted_at >= self.max_rounds:
            return f"out of rounds ({self.number - self.granted_at} of at most {self.max_rounds})"
        left = self.minutes_left()
        if left is not None and planned > left:
            return (
                f"out of budget: round {self.number + 1} needs about {planned:.1f} min, {left:.1f} min left"
            )
        return None

    def begin(self, planned: float) -> Loop:
        """The loop once the next round has started."""
        return self.model_copy(update={"number": self.number + 1, "planned": planned})

    def grant(self, max_rounds: int, budget_min: float | None) -> Loop:
        """A new "keep going" approved with the next round's plan: count rounds and minutes from now."""
        if (max_rounds, budget_min) == (self.max_rounds, self.budget_min):
            return self
        return self.model_copy(
            update={
                "max_rounds": max_rounds,
                "budget_min": budget_min,
                "granted_at": self.number,
                "started": time.time(),
            }
        )


class Decision(BaseModel):
    """What follows a round: `stopped` (why the loop ends here) or `plan` (the next round, with `reasons`)."""

    model_config = ConfigDict(extra="forbid")

    stopped: str | None = None
    plan: Plan | None = None
    reasons: list[str] = Field(default_factory=list)
    offer: Plan | None = Field(None, description="Stopped, met: an optional round offered for approval, never started on its own.")


def new_loop(plan: Plan, budget_min: float | None = None, max_rounds: int | None = None,
             output: str | Path | None = None) -> Loop:  # fmt: skip
    """A loop for `plan`: rounds and minutes from the arguments, else from what was approved with its checks."""
    return Loop(loop_id=uuid.uuid4().hex[:8], started=time.time(), max_rounds=max_rounds or plan.checks.max_rounds,
                budget_min=budget_min if budget_min is not None else plan.checks.budget_min,
                output=str(output) if output else None)  # fmt: skip


def assess(plan: Plan, status: Any, report: dict | None, loop: Loop, minutes: float | None = None) -> Round:
    """A finished run (a `RunStatus` or its dict) and its evaluation report -> the round's outcome."""
    status = status if isinstance(status, dict) else status.model_dump(mode="json")
    if minutes is None:
        start, end = status.get("started_at"), status.get("finished_at")
        minutes = (end - start) / 60 if start and end else 0.0
    outcome = Round(run_id=status["run_id"], run_dir=status["run_dir"], parent_run_id=loop.parent,
                    plan=plan.model_dump(mode="json"), estimated_minutes=loop.planned, minutes=minutes,
                    status=status.get("status", "unknown"))  # fmt: skip
    if outcome.status != "completed":
        outcome.verdict = (
            f"Training {outcome.status}: {status.get('error') or 'see stdout.log in the run folder'}"
        )
        return outcome
    if report is None:
        outcome.verdict = "The run was not evaluated, so there is no verdict on the checks."
        return outcome
    checked = report.get("checks") or {}
    verdict = checked.get("verdict") or {}
    outcome.base_pass_rate, outcome.tuned_pass_rate = (
        verdict.get("base_pass_rate", 0.0),
        verdict.get("tuned_pass_rate", 0.0),
    )
    outcome.met, outcome.verdict = bool(verdict.get("met")), report.get("verdict") or ""
    outcome.validation_pass_rate = (checked.get("validation") or {}).get("tuned")
    outcome.validation_loss = ((report.get("metrics") or {}).get("tuned") or {}).get("loss")
    outcome.probe_flag = (report.get("probe") or {}).get("flag")
    failures = (checked.get("tuned") or {}).get("failures") or []
    outcome.failing = failures[0] if failures else None
    migrated = report.get("migration")
    if migrated:
        outcome.migration = {k: migrated.get(k) for k in ("matched", "total", "match_rate", "met", "verdict")}
    return outcome


def step(loop: Loop, plan: Plan, outcome: Round) -> tuple[Loop, Decision]:
    """Record the round; stop when it failed or met the target on validation; else diagnose and re-plan."""
    record(loop.loop_id, loop.number, outcome)
    if outcome.status != "completed":
        return loop, Decision(stopped=f"round {loop.number} {outcome.status}")
    updates = max((r.get("step") or 0 for r in RunDir(outcome.run_dir).metrics()), default=0)
    loop = loop.model_copy(
        update={"parent": outcome.run_id, "per_update": outcome.minutes / max(1, updates) or None}
    )
    if (outcome.validation_pass_rate or 0.0) >= plan.checks.target:  # validation decides; test only reports
        if not outcome.probe_flag or loop.met_round:
            return loop, Decision(stopped="met on validation")
        gentle, reasons = gentler_plan(plan, outcome.probe_flag)
        outcome.next_reasons = reasons
        record(loop.loop_id, loop.number, outcome)
        met = {"round": loop.number, "run_id": outcome.run_id, "run_dir": outcome.run_dir}
        loop = loop.model_copy(update={"met_round": met})
        return loop, Decision(stopped="met on validation", offer=_round_output(gentle, loop), reasons=reasons)
    if loop.met_round and loop.met_round["round"] == loop.number - 1:
        # The optional gentler round missed: the goal was already reached, so no round is planned to chase it.
        kept = loop.met_round
        return loop, Decision(stopped=f"the gentler round missed the checks, so round {kept['round']} "
                                      f"(`{kept['run_id']}`), which meets them, stays the one to use")  # fmt: skip
    found = diagnose(RunDir(outcome.run_dir).metrics(), plan.training, train_rows(plan), plan.training.data_dir,
                     fits_but_fails=True)  # fmt: skip
    following, reasons = next_plan(
        plan, found, minutes_left=loop.minutes_left(), minutes_per_update=loop.per_update
    )
    outcome.diagnosis, outcome.next_reasons = found.summary(), reasons
    record(loop.loop_id, loop.number, outcome)
    return loop, Decision(plan=_round_output(following, loop), reasons=reasons)


def _round_output(plan: Plan, loop: Loop) -> Plan:
    """The next round's run folder: `<output>/rounds/round-N` for the headless loop, else the default."""
    out = str(Path(loop.output) / "rounds" / f"round-{loop.number + 1}") if loop.output else None
    return plan.model_copy(
        update={"training": TrainingPlan(**{**plan.training.model_dump(), "output_dir": out})}
    )


def best(rounds: list[Round]) -> Round | None:
    """Chosen on validation only: the checks' pass rate on validation answers, then no loss of general skills,
    then the lower validation loss."""
    done = [r for r in rounds if r.status == "completed"]
    if not done:
        return None
    # Equal on validation, a round that kept its general skills beats one the regression probe flagged.
    return max(done, key=lambda r: (r.validation_pass_rate or 0.0, r.probe_flag is None, -(r.validation_loss or 0.0)))


def train_rows(plan: Plan) -> int:
    try:
        report = json.loads((Path(plan.training.data_dir) / "report.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 0
    return int(report.get("train_rows") or 0)


# --- the record -----------------------------------------------------------------------------------------


def record(loop_id: str, number: int, outcome: Round) -> None:
    """The `rounds` row (run, loop, parent, met, pass rates, diagnosis) and the whole round in run.json."""
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (outcome.run_id, loop_id, number, outcome.parent_run_id, int(outcome.met),
                    outcome.validation_pass_rate, outcome.tuned_pass_rate, outcome.diagnosis, time.time()))  # fmt: skip
    run = RunDir(outcome.run_dir)
    if run.holds_run():
        run.update_info(round={**outcome.as_json(), "round": number, "run_id": outcome.run_id})


def rounds_of(run_id: str) -> list[dict]:
    """Every round of the loop that `run_id` belongs to, in order (the `rounds` table's rows)."""
    with store.connect() as db:
        row = db.execute("SELECT loop_id FROM rounds WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return []
        return [
            dict(r)
            for r in db.execute("SELECT * FROM rounds WHERE loop_id = ? ORDER BY round", (row["loop_id"],))
        ]


def rounds_side_by_side(run_id: str) -> list[dict]:
    """The loop's rounds with what each run folder recorded (settings, minutes, base/tuned pass rates)."""
    with store.connect() as db:
        dirs = {r["run_id"]: r["run_dir"] for r in db.execute("SELECT run_id, run_dir FROM runs")}
    out = []
    for row in rounds_of(run_id):
        saved = RunDir(dirs[row["run_id"]]).info().get("round") if row["run_id"] in dirs else None
        out.append({**row, **(saved or {}), "round": row["round"], "run_id": row["run_id"]})
    return out
