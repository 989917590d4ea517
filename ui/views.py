"""Pure formatting: the dicts that `assistant/` and `tools/` return, turned into what Gradio shows.

No Gradio and no heavy imports here, so every view is a plain function a test can call.
"""

from __future__ import annotations

import html
from typing import Any

from assistant.criteria import card_lines
from assistant.narrate import settings_text
from tools.evaluate.checks import SuccessCriteria
from tools.vocab import format_duration

_VERDICT_BADGE = {"fits": "✅ fits", "tight": "⚠️ tight", "won't fit": "⛔ won't fit", "wont_fit": "⛔ won't fit"}


def plan_card(turn: dict[str, Any] | None) -> str:
    """The plan card: the assistant's own card markdown, or a hint of what comes next."""
    if not turn:
        return "_No plan yet. Tell the assistant what you want your model to do._"
    card = turn.get("plan_card_markdown")
    if card:
        card = _with_checks(card, (turn.get("plan") or {}).get("checks"))
        state = "**Waiting for your approval.**" if turn.get("awaiting_approval") else ""
        return f"{card}\n\n{state}".strip()
    return "_No plan yet. Answer the assistant's questions, or say “just recommend”._"


def _with_checks(card: str, checks: dict[str, Any] | None) -> str:
    """[checks] The plan's success checks under its card (they are approved with it)."""
    if not checks or "**Success checks**" in card:
        return card
    lines = card_lines(SuccessCriteria.model_validate(checks))
    return card + ("\n\n" + "\n".join(lines) if lines else "")


def data_report(report: dict[str, Any] | None) -> str:
    """A data report (from inspect or prepare) as markdown: layout, counts, duplicates, PII, tokens."""
    if not report:
        return "_No data inspected yet. Attach a file in the chat, or upload one here._"
    tokens = report.get("tokens") or {}
    pii = report.get("pii") or {}
    lines = [
        f"### {html.escape(_name(report.get('source', '')))}",
        f"- **Layout:** `{report.get('format')}` → trains as **{report.get('dataset_type')}**",
        f"- **Rows:** {report.get('rows', 0)} read, {report.get('valid_rows', 0)} valid, "
        f"{report.get('usable_rows', report.get('valid_rows', 0))} usable",
        f"- **Rejected rows:** {report.get('error_count', len(report.get('errors') or []))} (listed below)",
        f"- **Duplicates removed:** {report.get('exact_duplicates', 0)} exact, {report.get('near_duplicates', 0)} near",
        f"- **PII redacted:** {_pii_line(pii)}",
    ]
    if tokens:
        lines.append(
            f"- **Tokens per row:** p50 {tokens.get('p50', 0)}, p95 {tokens.get('p95', 0)}, max {tokens.get('max', 0)}; "
            f"{tokens.get('total', 0)} in all; {_pct(tokens.get('truncated_fraction', 0))} would be truncated"
        )
    if report.get("train_rows") or report.get("validation_rows"):
        lines.append(f"- **Split:** {report.get('train_rows', 0)} train / {report.get('validation_rows', 0)} validation")
    return "\n".join(lines)


def error_rows(report: dict[str, Any] | None) -> list[list[Any]]:
    """Rejected rows as a table: row, field, message (the file is the report's source)."""
    return [[e.get("row"), e.get("field"), e.get("message")] for e in (report or {}).get("errors") or []]


def pii_rows(report: dict[str, Any] | None) -> list[list[Any]]:
    return [[kind, count] for kind, count in sorted(((report or {}).get("pii") or {}).items()) if count]


def progress_html(status: dict[str, Any] | None, queue_position: int | None = None) -> str:
    """A progress bar with step/total, ETA and the latest losses."""
    if not status:
        return "<p><em>No training run in this session yet.</em></p>"
    if queue_position:
        return f"<p>⏳ Queued: {queue_position} run(s) ahead of this one. One training job runs per device at a time.</p>"
    frac = status.get("progress") or 0.0
    step, total = status.get("step") or 0, status.get("total_steps")
    eta = status.get("eta_s")
    parts = [f"<b>{html.escape(str(status.get('status')))}</b>", f"step {step}/{total or '?'}"]
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    if status.get("loss") is not None:
        parts.append(f"loss {status['loss']:.3f}")
    if status.get("eval_loss") is not None:
        parts.append(f"eval loss {status['eval_loss']:.3f}")
    error = f"<p style='color:#b00'>{html.escape(status['error'])}</p>" if status.get("error") else ""
    return (
        f"<div id='train-progress'><progress value='{frac:.4f}' max='1' style='width:100%'></progress>"
        f"<p>{' · '.join(parts)}</p>{error}</div>"
    )


def loss_points(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """metrics.jsonl rows as long-form points for a line plot: step, loss, split (train/eval)."""
    points = []
    for row in metrics:
        step = row.get("step")
        if step is None:
            continue
        if row.get("loss") is not None:
            points.append({"step": step, "loss": float(row["loss"]), "split": "train"})
        if row.get("eval_loss") is not None:
            points.append({"step": step, "loss": float(row["eval_loss"]), "split": "eval"})
    return points


def runs_table(runs: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r.get("run_id"), r.get("status"), r.get("objective"), r.get("method"), _name(r.get("base_model") or ""),
             f"{r.get('step') or 0}/{r.get('total_steps') or '?'}", _fmt(r.get("loss")), _fmt(r.get("eval_loss"))]
            for r in runs]


ROUNDS_HEADERS = ["round", "run", "settings", "min est", "min measured", "base pass", "tuned pass", "validation pass",
                  "met", "diagnosis"]  # fmt: skip
REPLAY_HEADERS = ["prompt", "reference", "base", "tuned", "base passes", "tuned passes"]


def rounds_rows(rounds: list[dict[str, Any]]) -> list[list[Any]]:
    """One goal's rounds side by side (`assistant.rounds.rounds_side_by_side`): settings, minutes, pass rates."""
    return [[r.get("round"), r.get("run_id"), settings_text(r.get("plan") or {}), _minutes(r.get("estimated_minutes")),
             _minutes(r.get("minutes")), _rate((r.get("base") or {}).get("pass_rate")),
             _rate((r.get("tuned") or {}).get("pass_rate") if r.get("tuned") else r.get("test_pass_rate")),
             _rate(r.get("validation_pass_rate")), "yes" if r.get("met") else "no", r.get("diagnosis") or ""]
            for r in rounds]  # fmt: skip


def replay_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Replayed test prompts: both answers and whether each passes the run's checks."""
    return [[r["prompt"], r["reference"], r["base"], r["tuned"], _passes(r["base_passes"]), _passes(r["tuned_passes"])]
            for r in rows]  # fmt: skip


def replay_summary(rows: list[dict[str, Any]]) -> str:
    scored = [r for r in rows if r["tuned_passes"] is not None]
    if not scored:
        return f"Replayed {len(rows)} test prompts; no success check applies to them."
    base, tuned = sum(bool(r["base_passes"]) for r in scored), sum(bool(r["tuned_passes"]) for r in scored)
    return f"Replayed {len(rows)} test prompts: base passes {base} of {len(scored)}, tuned passes {tuned} of {len(scored)}."


def _passes(value: bool | None) -> str:
    return "–" if value is None else "✅" if value else "❌"


def _rate(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else ""


def _minutes(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else ""


def _pii_line(pii: dict[str, int]) -> str:
    found = {k: v for k, v in pii.items() if v}
    return ", ".join(f"{v} {k}" for k, v in sorted(found.items())) if found else "none found"


def _pct(value: float | None) -> str:
    return f"{(value or 0):.1%}"


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else ""


def _name(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]
