"""The tuned open model against the old fine-tune's recorded answers, on the held-out prompts.

    section = migration_report(backend, "tuned", "golden/", criteria, Sampling(max_tokens=256), run_id="r1")
    section["matched"], section["total"], section["verdict"]
    # "The open model matches the old fine-tune on 87% of held-out prompts by the checks (87 of 100)."

The evaluation of a run whose plan names a golden folder (`Plan.golden`) calls this with the model it has
loaded, and keeps the result as `migration` in the run's `eval/report.json` (and a section of report.md).
Each recorded prompt is asked once more, to the tuned model, with the same messages the old model saw;
its answer passes when every check that applies passes with the old answer as the reference. `matched`
of `total` counts exactly those per-prompt results. Where the data file had its own answer (the
`reference`), the old and the tuned model are also scored against it, check by check. Blind votes from
the Compare tab (tuned vs "old model (recorded)") join the sentence: `vote_tally` here, and
`tools.migrate.verdict.refresh_verdict` rewrites the report with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.evaluate.checks import SuccessCriteria, describe, outcomes, score
from tools.evaluate.compare import votes
from tools.migrate.checks import golden_lines, old_answer
from tools.migrate.golden import OLD, for_open_model, migration_verdict
from tools.migrate.record import META_FILE
from tools.serve.backends import ChatBackend, Sampling

MAX_PROMPTS = 500  # the held-out prompts asked per evaluation; more only costs time, not honesty


def migration_report(backend: ChatBackend, tuned: str, golden_dir: str | Path, criteria: SuccessCriteria,
                     sampling: Sampling, run_id: str | None = None, limit: int = MAX_PROMPTS) -> dict[str, Any]:  # fmt: skip
    """Ask `tuned` every recorded prompt, score it against the old answers, and say it in one sentence."""
    lines = golden_lines(golden_dir)[:limit]
    answers = [backend.chat(tuned, for_open_model(line["messages"]), sampling).strip() for line in lines]
    prompts = [_last_user(line["messages"]) for line in lines]
    old = [old_answer(line) for line in lines]
    rows = [_row(criteria, line, prompt, answer, reference)
            for line, prompt, answer, reference in zip(lines, prompts, answers, old, strict=True)]  # fmt: skip
    matched, total = sum(r["passed"] is True for r in rows), sum(r["passed"] is not None for r in rows)
    preferred, voted = vote_tally(run_id) if run_id else (0, 0)
    references = [str(line.get("reference") or "") for line in lines]
    against = None
    if any(references):  # the data's own answers: is the old model itself right, and is the tuned one?
        against = {"old": score(criteria, prompts, old, references).model_dump(mode="json"),
                   "tuned": score(criteria, prompts, answers, references).model_dump(mode="json")}  # fmt: skip
    return {
        "golden_dir": str(Path(golden_dir).expanduser().resolve()), "old_model": golden_meta(golden_dir).get("model"),
        "run_id": run_id, "criteria": criteria.model_dump(mode="json"), "matched": matched, "total": total,
        "match_rate": matched / total if total else 0.0, "target": criteria.target,
        "met": bool(total) and matched / total >= criteria.target,
        "checks": score(criteria, prompts, answers, old).model_dump(mode="json")["checks"],
        "against_reference": against, "votes": {"preferred": preferred, "votes": voted},
        "verdict": migration_verdict(matched, total, preferred, voted), "prompts": rows,
    }  # fmt: skip


def _row(criteria: SuccessCriteria, line: dict, prompt: str, answer: str, old: str) -> dict[str, Any]:
    found = outcomes(criteria, prompt, answer, old)
    return {"id": line["id"], "row": line.get("row"), "prompt": prompt[:500], "old": old[:2000], "tuned": answer[:2000],
            "passed": all(ok for _, ok, _ in found) if found else None,
            "failed": [f"{describe(criteria.checks[i])}: {why}" for i, ok, why in found if not ok]}  # fmt: skip


def _last_user(messages: list[dict]) -> str:
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def golden_meta(golden_dir: str | Path) -> dict:
    """meta.json of a golden folder (the data file it was recorded on, the old model's id), {} when unreadable."""
    try:
        return json.loads((Path(golden_dir).expanduser() / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


# --- blind votes against the recorded old answers -----------------------------------------------------


def vote_tally(tuned_model: str, db: str | Path | None = None) -> tuple[int, int]:
    """(votes preferring the tuned model, blind votes) over the Compare tab's tuned-vs-old comparisons."""
    preferred = voted = 0
    for row in votes(db):
        if row["tuned_model"] != tuned_model or row["base_model"] != OLD or not row["blind"]:
            continue
        voted += 1
        if row["choice"] in ("A", "B"):
            preferred += (row["model_a"] if row["choice"] == "A" else row["model_b"]) == tuned_model
    return preferred, voted


def with_votes(section: dict[str, Any], tuned_model: str, db: str | Path | None = None) -> dict[str, Any]:
    """The migration section with the current vote tally and the sentence that includes it."""
    if section.get("error"):
        return section
    preferred, voted = vote_tally(tuned_model, db)
    return {**section, "votes": {"preferred": preferred, "votes": voted},
            "verdict": migration_verdict(section["matched"], section["total"], preferred, voted)}  # fmt: skip


def markdown_lines(section: dict[str, Any] | None) -> list[str]:
    """report.md's "Against the old fine-tune" section: the sentence, then each check old vs tuned."""
    if not section:
        return []
    if section.get("error"):
        return ["", "## Against the old fine-tune", "", f"**{section['verdict']}**"]
    old_name = f" `{section['old_model']}`" if section.get("old_model") else ""
    lines = ["", "## Against the old fine-tune", "", f"**{section['verdict']}**", "",
             f"{section['matched']} of {section['total']} held-out prompts pass every check with the old model's{old_name} "
             f"recorded answer as the reference (target {section['target']:.0%}).", "",
             "| Check | Tuned matches old | Old vs data | Tuned vs data |", "|---|---|---|---|"]  # fmt: skip
    against = section.get("against_reference") or {}
    for i, check in enumerate(section["checks"]):
        cells = [_cell(check)] + [_cell(_nth((against.get(side) or {}).get("checks") or [], i)) for side in ("old", "tuned")]
        lines.append(f"| {check['check']} | {' | '.join(cells)} |")
    for row in [r for r in section["prompts"] if r["passed"] is False][:5]:
        lines.append(f"- differs: **{row['prompt'][:100]}** -> {row['tuned'][:150]!r} ({'; '.join(row['failed'])})")
    return lines


def _nth(items: list[dict], i: int) -> dict:
    return items[i] if i < len(items) else {}


def _cell(result: dict) -> str:
    if not result or not result.get("tested"):
        return "n/a"
    return f"{result['passed']}/{result['tested']}"
