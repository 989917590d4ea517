"""Training progress and results in plain words: is the loss falling, is it overfitting, did it beat the base?

The metrics come from the run folder (`tools.train.run_dir.RunDir.metrics()`); this module only words them.

    progress_text(status, metrics)        # "Step 40 of 120 (33%). Training loss 2.31 -> 1.52: learning. ..."
    results_text(evaluation, comparison)  # "The tuned model beat the base: validation loss 2.10 -> 1.45 ..."
    verdict_text(round, 1, 0.8)           # "**Round 1: not met.** ... base 0% → tuned 20% ... A failing answer ..."
"""

from __future__ import annotations

from typing import Any


def loss_trend(metrics: list[dict]) -> str | None:
    """Training loss, first vs recent (the mean of a window smooths step-to-step noise)."""
    losses = [m["loss"] for m in metrics if isinstance(m.get("loss"), int | float)]
    if len(losses) < 2:
        return None
    window = max(1, len(losses) // 5)
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    if last < first * 0.97:
        return f"Training loss {first:.2f} → {last:.2f}: it is learning."
    if last > first * 1.03:
        return (f"Training loss rose {first:.2f} → {last:.2f}: the learning rate may be too high; "
                "consider halving it.")
    return f"Training loss is flat around {last:.2f}: little is being learned yet (early steps, or a learning rate too low)."


def overfitting(metrics: list[dict]) -> str | None:
    """Validation loss rising while training loss falls: the model is memorising."""
    evals = [(m.get("step", i), m["eval_loss"]) for i, m in enumerate(metrics) if isinstance(m.get("eval_loss"), int | float)]
    if len(evals) < 2:
        if evals:
            return f"Validation loss {evals[0][1]:.2f} at step {evals[0][0]}."
        return None
    best_step, best = min(evals, key=lambda e: e[1])
    last_step, last = evals[-1]
    if last > best * 1.05 and last_step != best_step:
        return (f"Overfitting: validation loss was lowest ({best:.2f}) at step {best_step} and is {last:.2f} now. "
                f"Fewer epochs, more data or a lower rank would help; the step-{best_step} checkpoint is the one to keep.")
    return f"Validation loss {evals[0][1]:.2f} → {last:.2f}: no sign of overfitting."


def curve_text(metrics: list[dict]) -> str:
    """The loss curve in words: is it learning, is it overfitting (empty until two steps are logged)."""
    return " ".join(text for text in (loss_trend(metrics), overfitting(metrics)) if text)


def progress_text(status: dict[str, Any], metrics: list[dict]) -> str:
    state = status.get("status", "unknown")
    step, total = status.get("step") or 0, status.get("total_steps")
    where = f"step {step} of {total} ({100 * step / total:.0f}%)" if total else f"step {step}"
    parts = [f"Training is {state}: {where}."]
    if state == "preparing":
        parts = ["Preparing the data for training."]
    elif state == "evaluating":
        parts = [f"Training finished ({where}); now evaluating base vs tuned on the held-out split."]
    eta = status.get("eta_s")
    if isinstance(eta, int | float) and eta > 0 and state == "running":
        parts.append(f"About {eta / 60:.0f} min left." if eta >= 90 else f"About {eta:.0f} s left.")
    if curve := curve_text(metrics):
        parts.append(curve)
    if status.get("error"):
        parts.append(f"Error: {status['error']}")
    return " ".join(parts)


def results_text(evaluation: dict[str, Any] | None, comparison: dict[str, Any] | None) -> str:
    parts: list[str] = []
    if evaluation:
        verdict = evaluation.get("verdict") or evaluation.get("summary") or evaluation.get("sentence")
        if verdict:
            parts.append(str(verdict))
        else:
            base, tuned = _losses(evaluation)
            if base is not None and tuned is not None:
                word = "beat" if tuned < base else "did not beat"
                parts.append(f"The tuned model {word} the base: validation loss {base:.2f} → {tuned:.2f}.")
    if comparison:
        prompt = comparison.get("prompt", "")
        base_answer = comparison.get("base") or comparison.get("base_answer") or ""
        tuned_answer = comparison.get("tuned") or comparison.get("tuned_answer") or ""
        parts.append(f"On a held-out prompt, \"{_clip(prompt, 120)}\":\n\n**Base:** {_clip(base_answer, 400)}\n\n"
                     f"**Tuned:** {_clip(tuned_answer, 400)}")
    return "\n\n".join(parts) or "Evaluation finished."


def _losses(evaluation: dict[str, Any]) -> tuple[float | None, float | None]:
    base, tuned = evaluation.get("base"), evaluation.get("tuned")
    if isinstance(base, dict) and isinstance(tuned, dict):
        return base.get("loss"), tuned.get("loss")
    return evaluation.get("base_loss"), evaluation.get("tuned_loss")


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the verdict on the success checks, and what comes next ------------------------------------------------

_SETTINGS = {"learning_rate": "learning rate", "epochs": "epochs", "max_steps": "max steps", "lora_r": "LoRA rank",
             "batch_size": "batch size", "gradient_accumulation": "gradient accumulation"}  # fmt: skip


def verdict_text(outcome: dict[str, Any], number: int, target: float) -> str:
    """One round's verdict: met or not and by how much, base vs tuned pass rate, a failing answer, the diagnosis.

    `outcome` is an `assistant.rounds.Round` as a dict."""
    if outcome.get("status") != "completed":
        return f"**Round {number} did not finish.** {outcome.get('verdict') or ''}".strip()
    met = "met" if outcome.get("met") else "not met"
    lines = [f"**Round {number}: {met}.** {outcome.get('verdict') or ''}".strip(),
             f"Pass rate on the locked test prompts: base {_pct(outcome.get('base_pass_rate'))} → tuned "
             f"{_pct(outcome.get('tuned_pass_rate'))} (target {target:.0%})"
             + (f"; on validation {_pct(outcome['validation_pass_rate'])}." if outcome.get("validation_pass_rate")
                is not None else ".")]  # fmt: skip
    failing = outcome.get("failing")
    if failing:
        lines.append(f"A failing answer: \"{_clip(failing.get('prompt', ''), 120)}\" → \"{_clip(failing.get('answer', ''), 200)}\""
                     f" ({_clip(failing.get('why', ''), 120)}).")
    if outcome.get("probe_flag"):
        lines.append(f"⚠ General skills: {outcome['probe_flag']}")
    if outcome.get("diagnosis"):
        lines.append(f"**Diagnosis:** {outcome['diagnosis']}.")
    return "\n\n".join(lines)


def next_round_text(number: int, before: dict[str, Any], after: dict[str, Any], reasons: list[str],
                    optional: bool = False) -> str:  # fmt: skip
    """The next round's plan in words: what changes (training settings) and why. `optional`: offered after a
    met round, not needed to reach the goal."""
    changes = [f"{name} {_num(before.get(key))} → {_num(after.get(key))}" for key, name in _SETTINGS.items()
               if before.get(key) != after.get(key) and after.get(key) is not None]  # fmt: skip
    head = f"**Optional: round {number}**" if optional else f"**Next: round {number}**"
    lines = [head + (f" ({', '.join(changes)})" if changes else "") + ", because:"]
    return "\n".join(lines + [f"- {r}" for r in reasons or ["the checks still fail."]])


def rounds_table(rounds: list[dict[str, Any]]) -> str:
    """The rounds of one goal side by side, as a markdown table (the chat's view; the Runs tab has the same)."""
    head = ["| round | run | settings | min (est / measured) | base → tuned | validation | met |",
            "|---|---|---|---|---|---|---|"]
    rows = [f"| {r.get('round')} | `{r.get('run_id')}` | {settings_text(r.get('plan') or {})} | "
            f"{_num(r.get('estimated_minutes'))} / {_num(r.get('minutes'))} | "
            f"{_pct((r.get('base') or {}).get('pass_rate'))} → {_pct((r.get('tuned') or {}).get('pass_rate'))} | "
            f"{_pct(r.get('validation_pass_rate'))} | {'yes' if r.get('met') else 'no'} |" for r in rounds]  # fmt: skip
    return "\n".join(head + rows)


def settings_text(plan: dict[str, Any]) -> str:
    """A round's training settings in one short line: lr, rank, batch x accumulation, length."""
    t = plan.get("training") or {}
    length = f"{t['max_steps']} steps" if t.get("max_steps") else f"{_num(t.get('epochs'))} epochs"
    rank = f", r {t['lora_r']}" if t.get("method") in ("lora", "qlora", "dora") and t.get("lora_r") else ""
    return (f"lr {_num(t.get('learning_rate') or 'auto')}{rank}, batch {t.get('batch_size', '?')}×"
            f"{t.get('gradient_accumulation', 1)}, {length}")


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "–"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}" if value < 0.01 else f"{value:g}" if value.is_integer() else f"{value:.1f}"
    return str(value) if value is not None else "–"
