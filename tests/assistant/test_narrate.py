"""Reading a run in plain words: is the loss falling, is it overfitting, did it beat the base?"""

from __future__ import annotations

import json

from assistant.narrate import (
    loss_trend,
    next_round_text,
    overfitting,
    progress_text,
    results_text,
    rounds_table,
    verdict_text,
)
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


def test_a_verdict_says_met_or_not_the_pass_rates_a_failing_answer_and_the_diagnosis():
    outcome = {"status": "completed", "met": False, "verdict": "Not met: 1 of 9 test prompts pass every check.",
               "base_pass_rate": 0.0, "tuned_pass_rate": 1 / 9, "validation_pass_rate": 0.25,
               "failing": {"prompt": "Who are you?", "answer": "I am a bot.", "why": "missing 'Ada'"},
               "diagnosis": "lr too low (loss barely moved)", "probe_flag": None}
    text = verdict_text(outcome, 2, 0.8)
    assert text.startswith("**Round 2: not met.** Not met: 1 of 9")
    assert "base 0% → tuned 11% (target 80%); on validation 25%." in text
    assert "\"Who are you?\" → \"I am a bot.\" (missing 'Ada')" in text and "**Diagnosis:** lr too low" in text
    assert verdict_text({**outcome, "met": True, "failing": None, "diagnosis": ""}, 1, 0.8).startswith("**Round 1: met.**")
    plan = {"training": {"learning_rate": 2e-4, "method": "lora", "lora_r": 8, "batch_size": 2,
                         "gradient_accumulation": 4, "epochs": 3.0}}
    assert "learning rate 0.0002 → 0.0006" in next_round_text(3, {"learning_rate": 2e-4}, {"learning_rate": 6e-4}, ["why"])
    table = rounds_table([{"round": 1, "run_id": "r1", "plan": plan, "estimated_minutes": 46.0, "minutes": 5.6,
                           "base": {"pass_rate": 0.0}, "tuned": {"pass_rate": 0.0}, "validation_pass_rate": 0.0}])
    assert "| 1 | `r1` | lr 0.0002, r 8, batch 2×4, 3 epochs | 46 / 5.6 | 0% → 0% | 0% | no |" in table
