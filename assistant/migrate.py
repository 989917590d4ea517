"""Moving off a hosted fine-tune: the migration's plan and result, for `migrate run` and for the chat.

    migration = prepare_migration("golden/", data="train.jsonl")    # held-out file, checks, goal
    drafted = draft(migration.goal, "train.jsonl", checks=(migration.criteria, migration.note),
                    validation=migration.validation, golden=migration.golden)
    run_rounds(drafted, eval_config=migration.eval_config())            # `migrate run` (assistant/migrate_cli.py)

The golden folder (`finetune-assistant migrate record`) holds the old model's answers to the held-out prompts
and, in meta.json, the file they were asked from: normally OpenAI's validation file, which becomes the
validation split as given. The checks come from the old answers (`tools.migrate.checks`), the plan is the
same plan and approval as any run (`assistant.auto.draft`, or the chat's proposal with `with_golden`), and
each round's evaluation scores the tuned model against the old answers (`Plan.golden`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.peek import peek
from assistant.plan import PlanProposal, problems_here
from assistant.state import ConversationState, apply_update
from tools import paths
from tools.evaluate.checks import SuccessCriteria, describe
from tools.evaluate.heldout import EvalConfig
from tools.migrate.checks import golden_criteria, golden_lines, old_answer
from tools.migrate.record import GOLDEN_FILE, RecordError
from tools.migrate.score import golden_meta


class MigrationError(ValueError):
    """The golden folder or the files around it can't make a migration (a message the user can act on)."""


@dataclass(frozen=True)
class Migration:
    golden: str
    answers: int
    old_model: str | None
    validation: str | None  # the held-out file the old model answered (the validation split as given)
    criteria: SuccessCriteria
    note: str
    goal: str
    max_new_tokens: int
    warnings: list[str] = field(default_factory=list)

    def eval_config(self, max_new_tokens: int | None = None) -> EvalConfig:
        """The loop's evaluation, with answers long enough to be compared with the old ones."""
        return EvalConfig(max_examples=32, max_new_tokens=max_new_tokens or self.max_new_tokens, probe=False)

    def describe(self) -> str:
        who = f"`{self.old_model}`" if self.old_model else "the old model"
        held = f"; held-out prompts: {Path(self.validation).name} (the validation split as given)" if self.validation else ""
        return f"Compared with {who}: {self.answers} recorded answers in {self.golden}{held}."


def prepare_migration(golden: str | Path, data: str | Path | None = None, validation: str | Path | None = None,
                      threshold: float | None = None) -> Migration:  # fmt: skip
    """Read the golden folder and decide the held-out file, the checks and the goal words."""
    folder = Path(golden).expanduser().resolve()
    try:
        lines = golden_lines(folder)
    except RecordError as exc:
        raise MigrationError(str(exc)) from None
    meta = golden_meta(folder)
    held, warnings = _held_out(validation, meta.get("data"), data)
    criteria, note = golden_criteria(lines, threshold)
    longest = max(len(old_answer(line).split()) for line in lines)
    cap = min(512, int((meta.get("sampling") or {}).get("max_tokens") or 512))
    return Migration(golden=str(folder), answers=len(lines), old_model=meta.get("model"), validation=held,
                     criteria=criteria, note=note, goal=_goal(criteria), warnings=warnings,
                     max_new_tokens=max(32, min(cap, int(longest * 1.6) + 16)))  # fmt: skip


def _held_out(given: str | Path | None, recorded: str | None, data: str | Path | None) -> tuple[str | None, list[str]]:
    """The validation file: the one given, else the one the old model was recorded on; never the training file."""
    path = Path(given or recorded).expanduser().resolve() if (given or recorded) else None
    if path is not None and not path.is_file():
        if given:
            raise MigrationError(f"{path}: validation file not found; pass the file the old model was recorded on.")
        return None, [f"the file the old model was recorded on ({path}) is gone, so the validation split is "
                      "carved from your data; pass --validation FILE to use the held-out file itself."]  # fmt: skip
    if path is not None and data is not None and path == Path(data).expanduser().resolve():
        raise MigrationError(f"the old model's answers were recorded on {path.name}, your training file: the open model "
                             "would be judged on prompts it trained on. Record them on your validation file "
                             "(OpenAI's validation_file) instead, or pass --validation FILE.")  # fmt: skip
    return (str(path) if path else None), []


def _goal(criteria: SuccessCriteria) -> str:
    """The goal in words for the recommender (what kind of task the old fine-tune did)."""
    kinds = {c.kind for c in criteria.checks}
    if "label" in kinds:
        labels = next(c.labels for c in criteria.checks if c.kind == "label")
        return f"Replace our hosted fine-tune: classify each message into one of these labels: {', '.join(labels[:12])}."
    if "tool_call" in kinds:
        return "Replace our hosted fine-tune: an assistant that calls our tools (function calling) like it did."
    return "Replace our hosted fine-tune with an open model that answers like it did."


# --- the chat -------------------------------------------------------------------------------------------

_PATHISH = re.compile(r"(?<![\w~./\\-])([\w~./\\-]{1,255})")


def note_golden(conv: ConversationState, text: str, files: list[str] | None = None,
                confine: bool = False) -> ConversationState:  # fmt: skip
    """The conversation with a golden folder the user named or attached: moving off a hosted fine-tune, and
    golden.jsonl is the old model's answers, not the data to train on. Words about "the old model's answers"
    describe that folder, not the training data, so the data's layout is read from its file instead."""
    found = golden_in(text, files, confine)
    if found is None:
        return conv
    new = conv.model_copy(deep=True)
    new.data.golden_dir, new.use_case.replaces_hosted = found, True
    new.notes["data.golden_dir"] = found
    if new.data.location and Path(new.data.location).expanduser().resolve().is_relative_to(Path(found)):
        new.data.location = new.data.rows = None  # golden.jsonl itself: not the training data
    said = new.notes.get("data.layout", "")
    if said and said in text:  # this message's layout reading came from words about the old answers
        new.data.layout = new.data.has_pairs = new.data.has_ratings = None
        new.notes.pop("data.layout", None)
    source = Path(new.data.location).expanduser() if new.data.location else None
    if source is not None and source.is_file() and not (confine and not _inside_home(source)):
        update, quotes = peek(source)
        new = apply_update(new, update, quotes, str(source))
    return new


def _inside_home(path: Path) -> bool:
    try:
        paths.inside_home(path)
    except PermissionError:
        return False
    return True


def golden_in(text: str, files: list[str] | None = None, confine: bool = False) -> str | None:
    """A golden folder the user named or attached: a folder holding golden.jsonl, or that file itself.
    `confine` (the web UI): only inside the app's data dir."""
    candidates = list(files or []) + [m.rstrip(".,;:") for m in _PATHISH.findall(text or "")[:40] if "/" in m or "golden" in m]
    for raw in candidates:
        path = Path(raw).expanduser()
        folder = path.parent if path.name == GOLDEN_FILE else path
        try:
            if not (folder / GOLDEN_FILE).is_file():
                continue
            if confine:
                paths.inside_home(folder)
        except (OSError, PermissionError):
            continue
        return str(folder.resolve())
    return None


def with_golden(proposal: PlanProposal, golden: str) -> tuple[PlanProposal, str]:
    """The proposal compared with the old model's answers: the golden folder, its checks (beside any the user
    stated), the held-out file as the validation split. Returns (proposal, a note for the chat)."""
    plan = proposal.plan
    try:
        migration = prepare_migration(golden, data=plan.source)
    except MigrationError as exc:
        return proposal.model_copy(update={"warnings": [*proposal.warnings, str(exc)]}), f"⚠ {exc}"
    mine = plan.checks.checks if plan.checks.checks and not plan.checks.proposed else []
    criteria = migration.criteria.model_copy(update={"checks": [*mine, *migration.criteria.checks]})
    data = {"validation_file": migration.validation} if migration.validation else {}
    plan = plan.revised(data=data, golden=migration.golden, checks=criteria.model_dump(mode="json"))
    new = proposal.model_copy(update={"plan": plan, "problems": problems_here(plan),
                                      "warnings": [*proposal.warnings, *migration.warnings]})  # fmt: skip
    checks = "; ".join(describe(c) for c in criteria.checks)
    note = (f"**Compared with the old fine-tune.** {migration.describe()} Checks against each old answer: {checks} "
            f"(target {criteria.target:.0%}). After training I say how often the open model matches it; in the "
            "Compare tab, pick \"old model (recorded)\" to vote blind against the old answers.")  # fmt: skip
    return new, note
