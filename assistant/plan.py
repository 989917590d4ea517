"""The plan the user approves: a typed `Plan` (data + training), with the advice beside it, shown as a card.

    proposal = build_proposal(rec, state)          # proposal.plan is a validated tools.train.plan.Plan
    print(plan_card(proposal))
    proposal, changed, problems = apply_edit(proposal, "use rank 32 and 3 epochs", state)

Edits come in words ("use rank 32", "3 epochs", "use Qwen2.5-1.5B", "learning rate 1e-4", "no PII
redaction"), the success checks too ("it must also mention Acme", "drop the length check", "keep going
until met, at most 3 rounds"). The checks come from the user's words about success, else they are
proposed from the data's reference answers, and the card says which. Each edit makes a new `Plan`, validated once as a whole; an invalid one is refused with its
message and the previous plan stays. Whether the plan can run on this machine (`problems`) is checked
when it is proposed or edited and again at approval, never inside the validator.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant import catalogue
from assistant.criteria import card_lines, criteria_for, edit_in_words
from assistant.edits import parse_edit, parse_eval_edit
from assistant.fit import estimate_for, hardware_of
from assistant.recommend import Recommendation
from assistant.state import ConversationState
from tools import paths
from tools.data.head import records
from tools.data.spec import DataError, DataSpec
from tools.evaluate.heldout import reference_pairs
from tools.train.estimate import Estimate
from tools.train.plan import Plan, PlanError, TrainingPlan, build, check_runnable, check_training
from tools.vocab import (
    LORA_METHODS,
    METHOD_LABELS,
    OBJECTIVE_LABELS,
    PREFERENCE_OBJECTIVES,
    VIRTUAL_TOKEN_METHODS,
    format_duration,
)

_I = re.IGNORECASE


class PlanProposal(BaseModel):
    """What the card shows and approval runs: the `Plan`, and the advice beside it (never a copy of its settings)."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan
    base_model_name: str
    licence: str
    estimate: Estimate | None = None
    warnings: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="What stops it on this machine (check_runnable).")
    version: int = 1
    checks_note: str = Field("", description="Where the success checks came from (the user's words, or the data).")


def build_proposal(rec: Recommendation, state: ConversationState, thread_id: str = "") -> PlanProposal:
    """The plan for a recommendation that trains (objective != none); raises `PlanError` if it is incoherent."""
    if not rec.trains:
        raise ValueError("this recommendation does not train a model; there is no plan to approve")
    source = state.data.location
    stem = Path(source).stem if source else "data"
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "data"
    tag = hashlib.sha1(f"{thread_id}:{source}".encode()).hexdigest()[:6]
    out_dir = str(paths.datasets_dir() / f"{slug}-{tag}")
    training = {"base_model": rec.model, "data_dir": out_dir, "objective": rec.objective, "method": rec.method,
                "name": f"{slug}-{rec.objective}-{rec.method}", **rec.hyperparameters}
    data = DataSpec(model=rec.model, max_length=rec.hyperparameters.get("max_length", 1024))
    plan = build({"source": source, "source_name": Path(source).name if source else None,
                  "dataset_type": rec.dataset_type, "data": data.model_dump(), "training": training})
    checks, note = criteria_for(state.success.criteria, reference_rows(plan))
    plan = plan.model_copy(update={"checks": checks})
    return PlanProposal(plan=plan, base_model_name=rec.base_model, licence=rec.licence, estimate=rec.estimate,
                        problems=problems_here(plan), checks_note=note)


def attach_source(proposal: PlanProposal, path: str) -> PlanProposal:
    """The proposal with the user's data file (attached or typed) as the plan's source. Checks proposed
    from the data are proposed again from this file; checks from the user's words stay."""
    plan = proposal.plan.revised(source=str(path), source_name=Path(path).name)
    note = proposal.checks_note
    if plan.checks.proposed or not plan.checks.checks:
        checks, note = criteria_for(None, reference_rows(plan))
        plan = plan.model_copy(update={"checks": checks})
    return proposal.model_copy(update={"plan": plan, "problems": problems_here(plan), "checks_note": note})


def reference_rows(plan: Plan, limit: int = 200) -> list[tuple[str, str]]:
    """(prompt, reference answer) pairs to build checks from: the prepared train split once there is one
    (never the test split), else the first rows of the source file; [] when neither can be read."""
    prepared = Path(plan.training.data_dir) / "train.jsonl"
    try:
        if prepared.is_file():
            lines = prepared.read_text(encoding="utf-8").splitlines()[:limit]
            return reference_pairs([json.loads(line) for line in lines if line.strip()])
        return reference_pairs(records(plan.source, limit)) if plan.source else []
    except (OSError, ValueError, DataError):  # unreadable data: the checks come from the words alone
        return []


def problems_here(plan: Plan) -> list[str]:
    """What stops `plan` on this machine now. Without a source the data is still to come (the user attaches
    it after approving), so only the training part is checked."""
    return check_runnable(plan) if plan.source else check_training(plan.training, prepared=False)


# ---------------------------------------------------------------- edits in words

def apply_edit(proposal: PlanProposal, text: str, state: ConversationState | None = None
               ) -> tuple[PlanProposal, list[str], list[str]]:
    """(new proposal, what changed in words, problems). A refused edit leaves the proposal as it was."""
    training_changes, data_changes = parse_edit(text)
    checks, other_changes = edit_in_words(proposal.plan.checks, text, reference_rows(proposal.plan))
    evaluation = parse_eval_edit(text)
    other_changes += [f"evaluation {k.replace('_', ' ')} → {_fmt(v)}" for k, v in evaluation.items()]
    if not training_changes and not data_changes:
        if not other_changes:
            return proposal, [], []
        settings = proposal.plan.eval_settings.model_copy(update=evaluation)
        plan = proposal.plan.model_copy(update={"checks": checks, "eval_settings": settings})
        return proposal.model_copy(update={"plan": plan, "version": proposal.version + 1}), other_changes, []
    training, data, top = dict(training_changes), dict(data_changes), {}
    if "max_length" in training:
        data.setdefault("max_length", training["max_length"])
    if "epochs" in training and "max_steps" not in training:
        training["max_steps"] = None  # max_steps would override the epochs the user just asked for
    if "base_model" in training:
        data["model"] = training["base_model"]  # the tokenizer that counts tokens is the model's
    if "source" in data:
        source = data.pop("source")
        top = {"source": source, "source_name": Path(source).name}
    try:
        settings = {**proposal.plan.eval_settings.model_dump(), **evaluation}
        plan = proposal.plan.revised(training, data, checks=checks.model_dump(mode="json"), eval_settings=settings, **top)
    except PlanError as exc:
        return proposal, [], [str(exc).removeprefix("plan: ")]
    new = proposal.model_copy(update={"plan": plan, "version": proposal.version + 1, "problems": problems_here(plan)})
    if "base_model" in training:
        found = catalogue.find(training["base_model"])
        new.base_model_name = found.name if found else training["base_model"]
        new.licence = found.licence if found else "unknown: check the model card"
    if state is not None:
        new.estimate = reestimate(plan.training, state)
    changed = {**training_changes, **data_changes}
    if "source" in changed:
        changed["source"] = plan.data_name
    return new, _describe(changed) + other_changes, []


def reestimate(training: TrainingPlan, state: ConversationState) -> Estimate | None:
    hw, _ = hardware_of(state)
    try:
        return estimate_for(state, training, hw)
    except Exception:  # an estimate is advice: a plan it can't size still goes to the user
        return None


def _describe(changes: dict[str, Any]) -> list[str]:
    names = {"lora_r": "LoRA rank", "lora_alpha": "LoRA alpha", "max_steps": "max steps", "base_model": "base model",
             "learning_rate": "learning rate", "batch_size": "batch size", "max_length": "max length",
             "gradient_accumulation": "gradient accumulation", "lora_dropout": "LoRA dropout",
             "pii_redaction": "PII redaction", "val_fraction": "validation share", "source": "data file",
             "num_virtual_tokens": "virtual tokens", "gradient_checkpointing": "gradient checkpointing"}
    return [f"{names.get(k, k)} → {_fmt(v)}" for k, v in changes.items()]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- the card

_CARD_SETTINGS = ("epochs", "max_steps", "learning_rate", "batch_size", "gradient_accumulation", "max_length",
                  "lora_r", "lora_alpha", "lora_dropout", "num_virtual_tokens", "beta", "gradient_checkpointing")


def plan_card(proposal: PlanProposal, rec: Recommendation | None = None) -> str:
    """The plan as markdown: what runs, on what, whether it fits and can run here, why, and how to answer."""
    plan = proposal.plan
    t, d = plan.training, plan.data
    lines = [f"### Plan v{proposal.version}: {OBJECTIVE_LABELS[t.objective]} with a {METHOD_LABELS[t.method]}", "",
             "| | |", "|---|---|",
             f"| Base model | {proposal.base_model_name} (`{t.base_model}`), {proposal.licence} |",
             f"| Data | {_md(plan.data_name) if plan.source else '*attach or name your file*'} → "
             f"`{plan.dataset_type or 'detected'}` rows, {int(d.val_fraction * 100)}% held out for validation |",
             f"| Cleaning | dedupe, near-duplicates, PII redaction {'on' if d.pii_redaction else '**off**'} |"]
    if plan.golden:  # [migrate]
        lines.append(f"| Compared with | the old fine-tune's recorded answers in {_md(Path(plan.golden).name + '/')} |")
    settings = {k: getattr(t, k) for k in _CARD_SETTINGS} | {"learning_rate": t.resolved_learning_rate}
    # Only the settings this technique uses: LoRA's for adapters, virtual tokens for prompt/prefix tuning,
    # beta for preference losses.
    unused = ({"lora_r", "lora_alpha", "lora_dropout"} if t.method not in LORA_METHODS else set()) | (
        {"num_virtual_tokens"} if t.method not in VIRTUAL_TOKEN_METHODS else set()) | (
        {"beta"} if t.objective not in PREFERENCE_OBJECTIVES else set())
    settings = {k: v for k, v in settings.items() if k not in unused}
    shown = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in settings.items() if v is not None)
    lines.append(f"| Settings | {shown} |")
    if proposal.estimate:
        e = proposal.estimate
        lines.append(f"| Fits? | **{e.verdict}**: ~{e.peak_memory_gb:.1f} of {e.available_gb:.0f} GB on {e.hardware}, "
                     f"about {format_duration(e.duration_s)} |")
    if plan.evaluate:
        ev = plan.eval_settings
        lines.append(f"| Evaluation | base vs tuned on up to {ev.max_examples} held-out prompts, answers up to "
                     f"{ev.max_new_tokens} tokens{', plus the general-skills probe' if ev.probe else ''} |")
    if proposal.problems:
        lines += ["", "**Can't run on this machine yet**", *[f"- ⛔ {p}" for p in proposal.problems]]
    if plan.checks.checks:  # approved with the plan; the verdict after each run is on these
        lines += ["", *card_lines(plan.checks)]
        if plan.checks.proposed and proposal.checks_note:
            lines += ["", f"_{proposal.checks_note}_"]
    if rec:
        lines += _advice(rec)
    if proposal.warnings:
        lines += ["", *[f"> ⚠ {w}" for w in proposal.warnings]]
    lines += ["", "Nothing runs until you approve. Reply **approve**, **reject**, or change it in words "
              "(\"use rank 32\", \"3 epochs\", \"it must also mention Acme\", \"keep going until met, at most 3 rounds\")."]
    return "\n".join(lines)


def _advice(rec: Recommendation) -> list[str]:
    lines = ["", "**Why**", *[f"- {r}" for r in rec.reasons]]
    if rec.risks:
        lines += ["", "**Watch out**", *[f"- {r}" for r in rec.risks]]
    if rec.alternatives:
        lines += ["", "**Alternatives**", *[f"- {a.objective}/{a.method}: {a.why}" for a in rec.alternatives]]
    if rec.assumptions:
        lines += ["", "**Assumed**", *[f"- {a}" for a in rec.assumptions]]
    return lines


def _md(text: str | None) -> str:
    """A file name as literal text in a markdown table (underscores and pipes are not markup there)."""
    return f"`{(text or '').replace('|', '/').replace('`', '')}`"
