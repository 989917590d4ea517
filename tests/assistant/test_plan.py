"""The plan card and edits in words, validated by TrainingPlan itself."""

from __future__ import annotations

import pytest

from assistant.plan import apply_edit, build_proposal, parse_edit, plan_card, training_plan
from assistant.recommend import recommend
from assistant.state import ConversationState


@pytest.fixture
def cpu_chat():
    st = ConversationState(data={"layout": "chat", "rows": 800, "location": "chats.jsonl"},
                           constraints={"hardware": "cpu", "ram_gb": 16})
    rec = recommend(st)
    return st, rec, build_proposal(rec, st, "t")


EDITS = [
    ("use rank 32", {"lora_r": 32, "lora_alpha": 64}),
    ("3 epochs", {"epochs": 3.0}),
    ("use Qwen2.5-1.5B", {"base_model": "Qwen/Qwen2.5-1.5B-Instruct"}),
    ("learning rate 1e-4", {"learning_rate": 1e-4}),
    ("batch size 8 and gradient accumulation 2", {"batch_size": 8, "gradient_accumulation": 2}),
    ("max length 256", {"max_length": 256}),
    ("200 max steps", {"max_steps": 200}),
    ("switch to dora", {"method": "dora"}),
    ("turn on gradient checkpointing", {"gradient_checkpointing": True}),
]


@pytest.mark.parametrize(("text", "expected"), EDITS, ids=[e[0] for e in EDITS])
def test_edits_in_words_change_the_plan(cpu_chat, text, expected):
    st, rec, proposal = cpu_chat
    new, changed, problems = apply_edit(proposal, text, st)
    assert problems == [] and changed
    assert {k: new.training[k] for k in expected} == expected
    assert new.version == proposal.version + 1
    training_plan(new)  # still a valid TrainingPlan


def test_data_settings_are_editable_too(cpu_chat):
    st, _, proposal = cpu_chat
    new, changed, _ = apply_edit(proposal, "no PII redaction and 20% validation", st)
    assert new.data.pii_redaction is False and new.data.val_fraction == 0.2
    assert "PII redaction → off" in changed


def test_an_invalid_edit_is_refused_and_the_plan_stays(cpu_chat):
    st, _, proposal = cpu_chat
    new, changed, problems = apply_edit(proposal, "batch size 0", st)
    assert new is proposal and not changed
    assert "batch_size" in problems[0]


def test_an_objective_the_data_cannot_feed_is_refused(cpu_chat):
    st, _, proposal = cpu_chat
    _, _, problems = apply_edit(proposal, "use DPO instead", st)
    assert "DPO needs preference data" in problems[0]


def test_words_that_are_no_edit_change_nothing(cpu_chat):
    assert parse_edit("looks good to me") == ({}, {})


def test_epochs_clear_a_step_cap(cpu_chat):
    st, _, proposal = cpu_chat
    capped, _, _ = apply_edit(proposal, "100 steps", st)
    new, _, _ = apply_edit(capped, "2 epochs", st)
    assert new.training["max_steps"] is None and new.training["epochs"] == 2


def test_the_card_shows_technique_model_settings_verdict_and_reasons(cpu_chat):
    _, rec, proposal = cpu_chat
    card = plan_card(proposal, rec)
    for part in ("LoRA", "SmolLM2-135M-Instruct", "Apache-2.0", "chats.jsonl", "lora r", "fits", "**Why**",
                 "approve", "reject"):
        assert part in card, part


def test_a_qlora_plan_for_a_gpu_user_warns_on_this_cpu_machine():
    st = ConversationState(data={"layout": "chat", "rows": 5000},
                           constraints={"hardware": "gpu", "gpu_memory_gb": 24, "num_gpus": 1},
                           preferences={"base_model": "Qwen2.5-7B-Instruct"})
    import importlib.util

    from tools.train.plan import cuda_available

    rec = recommend(st)
    assert rec.method == "qlora"
    proposal = build_proposal(rec, st)
    can_run_here = cuda_available() and importlib.util.find_spec("bitsandbytes") is not None
    assert any("CUDA" in w for w in proposal.warnings) != can_run_here
