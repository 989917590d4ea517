"""Reading a run in plain words: is the loss falling, is it overfitting, did it beat the base?"""

from __future__ import annotations

import json

from assistant.narrate import loss_trend, overfitting, progress_text, results_text
from assistant.pipeline import held_out_prompt


def steps(losses, evals=None):
    rows = [{"step": i + 1, "loss": loss} for i, loss in enumerate(losses)]
    for step, value in (evals or {}).items():
        rows.append({"step": step, "eval_loss": value})
    return rows


def test_a_falling_loss_is_learning():
    assert "it is learning" in loss_trend(steps([3.0, 2.8, 2.5, 2.1, 1.9, 1.7]))


def test_a_rising_loss_suggests_a_lower_learning_rate():
    assert "learning rate may be too high" in loss_trend(steps([1.0, 1.2, 1.5, 1.9, 2.4]))


def test_validation_loss_turning_up_is_overfitting_and_names_the_best_step():
    text = overfitting(steps([2, 1.5, 1.0, 0.5, 0.2], {10: 1.8, 20: 1.5, 30: 1.7, 40: 2.0}))
    assert text.startswith("Overfitting") and "step 20" in text


def test_steady_validation_loss_is_no_overfitting():
    assert "no sign of overfitting" in overfitting(steps([2, 1.5], {10: 1.8, 20: 1.6}))


def test_progress_text_has_step_eta_and_trend():
    text = progress_text({"status": "running", "step": 30, "total_steps": 120, "eta_s": 300},
                         steps([3.0, 2.6, 2.2, 2.0, 1.8]))
    assert "step 30 of 120 (25%)" in text and "5 min left" in text and "learning" in text


def test_results_say_whether_tuned_beat_base_and_show_both_answers():
    text = results_text({"base_loss": 2.0, "tuned_loss": 1.4}, {"prompt": "Hi?", "base": "b", "tuned": "t"})
    assert "beat the base" in text and "**Base:** b" in text and "**Tuned:** t" in text
    assert "did not beat" in results_text({"base_loss": 1.0, "tuned_loss": 1.4}, None)


def test_the_held_out_prompt_is_a_user_turn_of_the_validation_split(tmp_path):
    row = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Where is my bike?"},
                        {"role": "assistant", "content": "Here."}]}
    (tmp_path / "validation.jsonl").write_text(json.dumps(row) + "\n")
    assert held_out_prompt(str(tmp_path)) == "Where is my bike?"
    assert held_out_prompt(str(tmp_path / "missing")) is None


def test_curve_text_reads_the_whole_curve_for_the_training_monitor():
    from assistant.narrate import curve_text

    assert curve_text([]) == ""
    rows = [{"step": i, "loss": 3.0 - 0.3 * i} for i in range(6)] + [{"step": 2, "eval_loss": 1.0}, {"step": 5, "eval_loss": 1.4}]
    text = curve_text(rows)
    assert "it is learning" in text and "Overfitting" in text
