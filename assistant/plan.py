"""The plan the user approves: a `TrainingPlan` plus data-preparation settings, shown as a card.

    proposal = build_proposal(rec, state)
    print(plan_card(proposal))
    proposal, changed, problems = apply_edit(proposal, "use rank 32 and 3 epochs", state)

Edits come in words ("use rank 32", "3 epochs", "use Qwen2.5-1.5B", "learning rate 1e-4", "no PII
redaction"). Each edit is validated by `TrainingPlan` itself; an invalid one is refused with its message
and the previous plan stays.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant import catalogue
from assistant.edits import parse_edit
from assistant.recommend import EstimateSummary, Recommendation
from assistant.state import ConversationState

_I = re.IGNORECASE


class DataPrep(BaseModel):
    """How the user's file becomes the prepared folder the plan trains on (tools.data's `DataSpec`)."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="The user's file; None until they attach or name it.")
    out_dir: str
    dataset_type: str | None = None
    max_length: int = 1024
    val_fraction: float = Field(0.1, ge=0.0, le=0.5)
    pii_redaction: bool = True
    near_dedupe_threshold: float | None = 0.85


class PlanProposal(BaseModel):
    """What the card shows and approval launches. `training` holds `TrainingPlan` fields."""

    model_config = ConfigDict(extra="forbid")

    training: dict[str, Any]
    data: DataPrep
    base_model_name: str
    licence: str
    estimate: EstimateSummary | None = None
    warnings: list[str] = Field(default_factory=list)
    version: int = 1


def build_proposal(rec: Recommendation, state: ConversationState, thread_id: str = "") -> PlanProposal:
    """The plan for a recommendation that trains (objective != none)."""
    if not rec.trains:
        raise ValueError("this recommendation does not train a model; there is no plan to approve")
    from tools import paths

    source = state.data.location
    stem = Path(source).stem if source else "data"
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "data"
    tag = hashlib.sha1(f"{thread_id}:{source}".encode()).hexdigest()[:6]
    out_dir = str(paths.home() / "datasets" / f"{slug}-{tag}")
    params = dict(rec.hyperparameters)
    training = {"base_model": rec.model, "data_dir": out_dir, "objective": rec.objective, "method": rec.method,
                "name": f"{slug}-{rec.objective}-{rec.method}", **params}
    data = DataPrep(source=source, out_dir=out_dir, dataset_type=rec.dataset_type,
                    max_length=params.get("max_length", 1024), pii_redaction=True)
    proposal = PlanProposal(training=training, data=data, base_model_name=rec.base_model, licence=rec.licence,
                            estimate=rec.estimate)
    return _checked(proposal)


def _checked(proposal: PlanProposal) -> PlanProposal:
    """Validate the training fields with `TrainingPlan`; a QLoRA plan for another machine only warns here."""
    from tools.train.plan import PlanError, build_plan

    fields = proposal.training
    proposal.warnings = [w for w in proposal.warnings if not w.startswith("QLoRA")]
    try:
        build_plan(fields)
    except PlanError as exc:
        if fields.get("method") == "qlora" and ("CUDA" in str(exc) or "bitsandbytes" in str(exc)):
            build_plan({**fields, "method": "lora"})  # everything else must still be valid
            proposal.warnings.append(
                "QLoRA needs a CUDA GPU and bitsandbytes, which this machine lacks: approve it on the GPU "
                "machine, or say 'use lora' to train here.")
        else:
            raise
    return proposal


def training_plan(proposal: PlanProposal) -> Any:
    """The validated `TrainingPlan` (raises `PlanError` with a readable message)."""
    from tools.train.plan import build_plan

    return build_plan(proposal.training)


# ---------------------------------------------------------------- edits in words

def apply_edit(proposal: PlanProposal, text: str, state: ConversationState | None = None
               ) -> tuple[PlanProposal, list[str], list[str]]:
    """(new proposal, what changed in words, problems). A refused edit leaves the proposal as it was."""
    training_changes, data_changes = parse_edit(text)
    if not training_changes and not data_changes:
        return proposal, [], []
    problem = _objective_problem(proposal, training_changes.get("objective"))
    if problem:
        return proposal, [], [problem]
    new = proposal.model_copy(deep=True)
    new.training.update(training_changes)
    if "max_length" in training_changes:
        data_changes.setdefault("max_length", training_changes["max_length"])
    if "epochs" in training_changes and "max_steps" not in training_changes:
        new.training["max_steps"] = None  # max_steps would override the epochs the user just asked for
    try:
        new.data = DataPrep(**{**new.data.model_dump(), **data_changes})
        new = _checked(new)
    except ValueError as exc:
        from tools.train.plan import PlanError

        message = str(exc) if isinstance(exc, PlanError) else str(exc).splitlines()[-1]
        return proposal, [], [message]
    if "base_model" in training_changes:
        found = catalogue.find(training_changes["base_model"])
        new.base_model_name = found.name if found else training_changes["base_model"]
        new.licence = found.licence if found else "unknown: check the model card"
    new.version += 1
    if state is not None:
        new.estimate = reestimate(new, state)
    return new, _describe(training_changes, data_changes), []


def _objective_problem(proposal: PlanProposal, objective: str | None) -> str | None:
    """An objective the user's data can't feed, said before anything runs."""
    from tools.train.plan import DATA_FOR_OBJECTIVE

    have = proposal.data.dataset_type
    if not objective or not have or have in DATA_FOR_OBJECTIVE[objective]:
        return None
    need = " or ".join(DATA_FOR_OBJECTIVE[objective])
    fits = [o for o, kinds in DATA_FOR_OBJECTIVE.items() if have in kinds]
    return f"{objective.upper()} needs {need} data, but your data is {have}; it suits {' or '.join(fits)}."


def reestimate(proposal: PlanProposal, state: ConversationState) -> EstimateSummary | None:
    from assistant.fit import estimate_for, hardware_of
    from tools.train.plan import TrainingPlan

    hw, _ = hardware_of(state)
    try:
        return estimate_for(state, TrainingPlan.model_construct(**proposal.training), hw)
    except Exception:  # an estimate is advice: a plan it can't size still goes to the user
        return None


def _describe(training: dict[str, Any], data: dict[str, Any]) -> list[str]:
    names = {"lora_r": "LoRA rank", "lora_alpha": "LoRA alpha", "max_steps": "max steps", "base_model": "base model",
             "learning_rate": "learning rate", "batch_size": "batch size", "max_length": "max length",
             "gradient_accumulation": "gradient accumulation", "lora_dropout": "LoRA dropout",
             "pii_redaction": "PII redaction", "val_fraction": "validation share", "source": "data file",
             "num_virtual_tokens": "virtual tokens", "gradient_checkpointing": "gradient checkpointing"}
    return [f"{names.get(k, k)} → {_fmt(v)}" for k, v in {**training, **data}.items()]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- the card

_OBJECTIVE_WORDS = {"sft": "supervised fine-tuning (SFT)", "dpo": "preference tuning (DPO)",
                    "orpo": "preference tuning with SFT in one run (ORPO)", "kto": "learning from ratings (KTO)",
                    "continued_pretraining": "continued pretraining on raw text"}
_METHOD_WORDS = {"lora": "LoRA adapter", "qlora": "QLoRA (4-bit base + LoRA adapter)", "dora": "DoRA adapter",
                 "full": "full fine-tuning (all weights)", "prompt_tuning": "prompt tuning (virtual tokens)",
                 "prefix_tuning": "prefix tuning"}
_CARD_SETTINGS = ("epochs", "max_steps", "learning_rate", "batch_size", "gradient_accumulation", "max_length",
                  "lora_r", "lora_alpha", "lora_dropout", "num_virtual_tokens", "beta", "gradient_checkpointing")


def plan_card(proposal: PlanProposal, rec: Recommendation | None = None) -> str:
    """The plan as markdown: what runs, on what, whether it fits, why, and how to answer."""
    t, d = proposal.training, proposal.data
    method = t.get("method", "lora")
    lines = [f"### Plan v{proposal.version}: {_OBJECTIVE_WORDS.get(t['objective'], t['objective'])} "
             f"with a {_METHOD_WORDS.get(method, method)}", "",
             "| | |", "|---|---|",
             f"| Base model | {proposal.base_model_name} (`{t['base_model']}`), {proposal.licence} |",
             f"| Data | {d.source or '*attach or name your file*'} → `{d.dataset_type or 'detected'}` rows, "
             f"{int(d.val_fraction * 100)}% held out for validation |",
             f"| Cleaning | dedupe, near-duplicates, PII redaction {'on' if d.pii_redaction else '**off**'} |"]
    lr = t.get("learning_rate")
    if lr is None:
        from tools.train.plan import recommended_learning_rate

        lr = recommended_learning_rate(t["objective"], method)
    settings = {**{k: t[k] for k in _CARD_SETTINGS if k in t}, "learning_rate": lr}
    if method not in ("lora", "qlora", "dora"):
        settings = {k: v for k, v in settings.items() if not k.startswith("lora_")}
    shown = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in settings.items())
    lines.append(f"| Settings | {shown} |")
    if proposal.estimate:
        e = proposal.estimate
        lines.append(f"| Fits? | **{e.verdict}**: ~{e.peak_memory_gb:.1f} of {e.available_gb:.0f} GB on {e.hardware}, "
                     f"about {_minutes(e.duration_min)} |")
    if rec:
        lines += ["", "**Why**", *[f"- {r}" for r in rec.reasons]]
        if rec.risks:
            lines += ["", "**Watch out**", *[f"- {r}" for r in rec.risks]]
        if rec.alternatives:
            lines += ["", "**Alternatives**",
                      *[f"- {a.objective}/{a.method}: {a.why}" for a in rec.alternatives]]
        if rec.assumptions:
            lines += ["", "**Assumed**", *[f"- {a}" for a in rec.assumptions]]
    if proposal.warnings:
        lines += ["", *[f"> ⚠ {w}" for w in proposal.warnings]]
    lines += ["", "Nothing runs until you approve. Reply **approve**, **reject**, or change it in words "
              "(\"use rank 32\", \"3 epochs\", \"use Qwen2.5-1.5B\")."]
    return "\n".join(lines)


def _minutes(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
