"""The proposed `Plan`, its card, and edits in words, each validated once as a new Plan."""

from __future__ import annotations

import pytest

from assistant.plan import apply_edit, attach_source, build_proposal, parse_edit, plan_card
from assistant.recommend import recommend
from assistant.state import ConversationState
from tools.train.plan import Plan, cuda_available


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
    assert {k: getattr(new.plan.training, k) for k in expected} == expected
    assert new.version == proposal.version + 1
    assert Plan.model_validate(new.plan.model_dump(mode="json")) == new.plan  # a valid Plan, as checkpointed
    assert proposal.plan.training.model_dump() != new.plan.training.model_dump()  # the old plan is untouched


def test_data_settings_are_editable_too(cpu_chat):
    st, _, proposal = cpu_chat
    new, changed, _ = apply_edit(proposal, "no PII redaction and 20% validation", st)
    assert new.plan.data.pii_redaction is False and new.plan.data.val_fraction == 0.2
    assert "PII redaction → off" in changed


@pytest.mark.parametrize(("text", "expected"), [
    ("evaluate on 20 examples", {"max_examples": 20, "max_new_tokens": 128, "probe": True}),
    ("test on 5 prompts with answers up to 32 tokens", {"max_examples": 5, "max_new_tokens": 32, "probe": True}),
    ("skip the probe", {"max_examples": 64, "max_new_tokens": 128, "probe": False}),
])
def test_how_the_job_evaluates_is_editable_in_words_and_shown_on_the_card(cpu_chat, text, expected):
    st, _, proposal = cpu_chat
    new, changed, problems = apply_edit(proposal, text, st)
    assert problems == [] and changed and new.plan.eval_settings.model_dump() == expected
    assert new.plan.training == proposal.plan.training, "an evaluation edit leaves the training alone"
    assert f"up to {expected['max_examples']} held-out prompts" in plan_card(new)
    assert Plan.from_yaml(new.plan.to_yaml()) == new.plan


def test_an_invalid_edit_is_refused_and_the_plan_stays(cpu_chat):
    st, _, proposal = cpu_chat
    new, changed, problems = apply_edit(proposal, "batch size 0", st)
    assert new is proposal and not changed
    assert "training.batch_size" in problems[0]


def test_an_objective_the_data_cannot_feed_is_refused(cpu_chat):
    st, _, proposal = cpu_chat
    _, _, problems = apply_edit(proposal, "use DPO instead", st)
    assert "objective dpo needs preference data" in problems[0] and "suits objective sft" in problems[0]


def test_words_that_are_no_edit_change_nothing(cpu_chat):
    assert parse_edit("looks good to me") == ({}, {})


def test_epochs_clear_a_step_cap(cpu_chat):
    st, _, proposal = cpu_chat
    capped, _, _ = apply_edit(proposal, "100 steps", st)
    new, _, _ = apply_edit(capped, "2 epochs", st)
    assert new.plan.training.max_steps is None and new.plan.training.epochs == 2


def test_the_card_shows_technique_model_settings_verdict_and_reasons(cpu_chat):
    _, rec, proposal = cpu_chat
    card = plan_card(proposal, rec)
    for part in ("LoRA", "SmolLM2-135M-Instruct", "Apache-2.0", "chats.jsonl", "lora r", "fits", "**Why**",
                 "approve", "reject"):
        assert part in card, part


@pytest.mark.skipif(cuda_available(), reason="checks what a CPU-only machine says about a QLoRA plan")
def test_a_qlora_plan_for_a_gpu_user_builds_and_the_card_says_it_cannot_run_here():
    st = ConversationState(data={"layout": "chat", "rows": 5000},
                           constraints={"hardware": "gpu", "gpu_memory_gb": 24, "num_gpus": 1},
                           preferences={"base_model": "Qwen2.5-7B-Instruct"})
    rec = recommend(st)
    assert rec.method == "qlora"
    proposal = build_proposal(rec, st)
    assert proposal.plan.training.method == "qlora"  # no retry with lora: the plan is what was recommended
    assert any("needs a CUDA GPU" in p for p in proposal.problems)
    card = plan_card(proposal, rec)
    assert "Can't run on this machine yet" in card and "Use method lora instead" in card


def test_an_attached_file_shows_by_its_own_name_on_the_card(cpu_chat, tmp_path):
    st, rec, proposal = cpu_chat
    stored = tmp_path / "uploads" / "a1b2c3" / "support_chats.jsonl"
    stored.parent.mkdir(parents=True)
    stored.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n')
    new = attach_source(proposal, str(stored))
    assert new.problems == []
    assert new.plan.source == str(stored) and new.plan.source_name == "support_chats.jsonl"
    card = plan_card(new, rec)
    assert "support_chats.jsonl" in card and "uploads" not in card and "a1b2c3" not in card
    stored.unlink()  # gone before approval: the problem names the file as the user knows it
    assert attach_source(proposal, str(stored)).problems[0].startswith("data file support_chats.jsonl is not there")


def test_the_approved_plan_round_trips_through_plan_yaml_unchanged(cpu_chat):
    st, _, proposal = cpu_chat
    new, _, _ = apply_edit(proposal, "use rank 32, 3 epochs and 20% validation", st)
    assert Plan.from_yaml(new.plan.to_yaml()) == new.plan
