"""Why a run missed its goal, from its curves and its data, and the next plan to try, with reasons.

    from tools.train.diagnose import diagnose, next_plan
    found = diagnose(metrics_rows, plan.training, train_rows=72, data_dir=plan.training.data_dir)
    new_plan, reasons = next_plan(plan, found, minutes_left=20, minutes_per_update=0.07)

Findings (codes): too_few_updates, lr_too_high (diverging or spiky loss), lr_too_low (flat loss),
still_improving, overfitting (eval loss rising while train loss falls), data_too_small,
inconsistent_data (one prompt, different answers), model_too_small (fits the data, still fails).
Only validation numbers feed this: the locked test split decides the verdict, never the next round.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.train.plan import Plan, TrainingPlan

MIN_UPDATES = 120  # below this a small dataset rarely moves the model: 33 updates did not, 126 did (assistant.fit plans for it)
SMALL_DATA = 40
MAX_LORA_LR = 5e-3


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    evidence: str


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    findings: list[Finding] = Field(default_factory=list)
    updates: int = 0

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def summary(self) -> str:
        if not self.findings:
            return "No clear problem in the curves or the data."
        return "; ".join(f"{f.code.replace('_', ' ')} ({f.evidence})" for f in self.findings)


def diagnose(metrics: list[dict], plan: TrainingPlan, train_rows: int, data_dir: str | Path | None = None,
             fits_but_fails: bool = False) -> Diagnosis:  # fmt: skip
    """Findings from metrics.jsonl rows (step, loss, eval_loss), the train size and the train file."""
    train = [(r["step"], float(r["loss"])) for r in metrics if r.get("loss") is not None and r.get("step") is not None]
    evals = [(r["step"], float(r["eval_loss"])) for r in metrics if r.get("eval_loss") is not None and r.get("step") is not None]
    updates = max((s for s, _ in train), default=0)
    found = Diagnosis(updates=updates)
    add = lambda code, evidence: found.findings.append(Finding(code=code, evidence=evidence))  # noqa: E731
    if updates and updates < MIN_UPDATES:
        add("too_few_updates", f"{updates} optimizer updates; small data needs about {MIN_UPDATES}")
    losses = [v for _, v in train]
    if losses:
        _curve(losses, add)
    if len(evals) >= 2:
        best_step, best = min(evals, key=lambda e: e[1])
        last_step, last = evals[-1]
        if last > best * 1.1 and best_step < last_step and losses and losses[-1] < losses[0]:
            add("overfitting", f"eval loss {best:.3f} at step {best_step} rose to {last:.3f} at step {last_step} "
                "while train loss kept falling")  # fmt: skip
    if train_rows < SMALL_DATA:
        add("data_too_small", f"{train_rows} training rows; 50-100 varied examples per behaviour is a usual minimum")
    conflicts = inconsistent_prompts(Path(data_dir) / "train.jsonl") if data_dir else 0
    if conflicts:
        add("inconsistent_data", f"{conflicts} prompts appear with different answers")
    if fits_but_fails and losses and losses[-1] < 0.5 and not found.findings:
        add("model_too_small", f"train loss reached {losses[-1]:.2f} yet the checks fail")
    return found


def _curve(losses: list[float], add) -> None:
    if any(not math.isfinite(v) for v in losses):
        add("lr_too_high", "the loss became NaN or infinite")
        return
    k = max(1, len(losses) // 4)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    jumps = [b / a for a, b in zip(losses[len(losses) // 2:], losses[len(losses) // 2 + 1:], strict=False) if a > 0]
    if last > first * 1.05:
        add("lr_too_high", f"loss rose from {first:.3f} to {last:.3f}")
    elif jumps and max(jumps) > 2.0:
        add("lr_too_high", f"loss jumped {max(jumps):.1f}x between two late steps")
    elif (first - last) / first < 0.1:
        add("lr_too_low", f"loss barely moved ({first:.3f} -> {last:.3f})")
    else:
        tail = losses[-2 * k:]
        if len(tail) >= 4:
            earlier, later = sum(tail[: len(tail) // 2]) / (len(tail) // 2), sum(tail[len(tail) // 2:]) / (len(tail) - len(tail) // 2)
            if (earlier - later) / earlier > 0.05:
                add("still_improving", f"loss still falling at the end ({earlier:.3f} -> {later:.3f} over the last steps)")


def inconsistent_prompts(path: Path) -> int:
    """How many prompts occur more than once in a TRL jsonl file with different answers."""
    if not path.is_file():
        return 0
    answers: dict[str, set[str]] = defaultdict(set)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "messages" in row:
            users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
            bots = [m["content"] for m in row["messages"] if m.get("role") == "assistant"]
            if users and bots:
                answers[users[-1].strip().lower()].add(bots[-1].strip())
        elif isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
            answers[row["prompt"].strip().lower()].add(row["completion"].strip())
    return sum(1 for a in answers.values() if len(a) > 1)


def next_plan(plan: Plan, found: Diagnosis, minutes_left: float | None = None,
              minutes_per_update: float | None = None) -> tuple[Plan, list[str]]:  # fmt: skip
    """The next round's plan and why. Length changes scale max_steps when the plan sets it, else epochs."""
    t = plan.training
    lr, scale, reasons = t.resolved_learning_rate, 1.0, []
    codes = found.codes
    if "lr_too_high" in codes:
        lr = lr / 3
        reasons.append(f"Learning rate {t.resolved_learning_rate:.2g} -> {lr:.2g}: the loss diverged or spiked.")
    elif "overfitting" in codes:
        scale = 0.5
        reasons.append("Half the training length: validation loss rose while training loss fell (over-fitting).")
    else:
        if "lr_too_low" in codes:
            lr = min(MAX_LORA_LR if t.method != "full" else 2e-4, lr * 3)
            reasons.append(f"Learning rate {t.resolved_learning_rate:.2g} -> {lr:.2g}: the loss barely moved.")
        if "too_few_updates" in codes:
            scale = min(4.0, max(2.0, MIN_UPDATES / max(found.updates, 1)))
            reasons.append(f"{scale:g}x the training length: {found.updates} optimizer updates were too few.")
        elif "still_improving" in codes or "lr_too_low" not in codes:
            scale = 2.0
            why = "the loss was still falling" if "still_improving" in codes else "the checks still fail"
            reasons.append(f"2x the training length: {why}.")
    planned = found.updates * scale
    if minutes_left is not None and minutes_left <= 0:
        # Nothing left to fit into: a 1-update round would be useless, so this one is sized for its goal
        # and only runs if the user approves it (with the minutes it needs).
        needed = f" (about {planned * minutes_per_update:.0f} min)" if minutes_per_update else ""
        reasons.append(f"The approved minutes are spent: this round needs your approval{needed}.")
    elif minutes_left is not None and minutes_per_update and planned * minutes_per_update > minutes_left:
        affordable = max(1.0, minutes_left / minutes_per_update)
        reasons.append(f"Capped at about {affordable:.0f} updates to fit the {minutes_left:.0f} minutes left "
                       f"({minutes_per_update * 60:.1f} s per update measured).")  # fmt: skip
        scale = max(0.1, affordable / max(found.updates, 1))
    changes: dict = {"learning_rate": float(f"{lr:.2g}"), "output_dir": None}
    if t.max_steps:
        changes["max_steps"] = max(1, math.ceil(t.max_steps * scale))
    else:
        changes["epochs"] = float(min(100.0, max(1.0, math.ceil(t.epochs * scale * 10) / 10)))
    for code in ("inconsistent_data", "data_too_small", "model_too_small"):
        if code in codes:
            reasons.append(_ADVICE[code])
    training = TrainingPlan(**{**t.model_dump(), **changes})
    return plan.model_copy(update={"training": training}), reasons


def gentler_plan(plan: Plan, probe_flag: str) -> tuple[Plan, list[str]]:
    """A round for a model that met its checks but lost general skills (the regression probe's flag).

    One lever, the one that forgets least for what it keeps: train half as long (fewer updates move the
    weights less; the task, already met, is usually learned well before the end). At one epoch already,
    half the learning rate instead. The user decides: a model that only ever does this task may keep the
    met round as it is."""
    t = plan.training
    changes: dict = {"output_dir": None}
    if t.max_steps and t.max_steps > 1:
        changes["max_steps"] = math.ceil(t.max_steps / 2)
        lever = f"Half the training length (max steps {t.max_steps} -> {changes['max_steps']})"
    elif not t.max_steps and t.epochs > 1:
        changes["epochs"] = float(max(1.0, math.ceil(t.epochs * 5) / 10))
        lever = f"About half the training length (epochs {t.epochs:g} -> {changes['epochs']:g})"
    else:
        lr = t.resolved_learning_rate / 2
        changes["learning_rate"] = float(f"{lr:.2g}")
        lever = f"Half the learning rate ({t.resolved_learning_rate:.2g} -> {lr:.2g})"
    reasons = [f"{lever}: the checks pass, but {probe_flag[0].lower()}{probe_flag[1:].rstrip('.')}. A shorter, "
               "gentler run usually keeps the task and forgets less of what the base model could do.",
               "Only if the model must still handle requests outside this task: the met round stays, and the "
               "better of the two on validation is kept."]  # fmt: skip
    return plan.model_copy(update={"training": TrainingPlan(**{**t.model_dump(), **changes})}), reasons


_ADVICE = {
    "inconsistent_data": "Some prompts have conflicting answers in the data; settings can't fix that, make them agree.",
    "data_too_small": "The data is small: add more varied examples of the behaviour (50-100 or more).",
    "model_too_small": "The model fits the data yet fails the checks: a larger base model may be needed.",
}
