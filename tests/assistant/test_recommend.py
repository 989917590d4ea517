"""The recommendation as a pure function of the state: one row per objective and per method."""

from __future__ import annotations

import pytest

from assistant.recommend import recommend
from assistant.state import ConversationState


def state(**parts) -> ConversationState:
    """A state from nested dicts: state(data={"layout": "chat", "rows": 2000}, constraints={...})."""
    return ConversationState(**parts)


GPU24 = {"hardware": "gpu", "gpu_name": "RTX 4090", "gpu_memory_gb": 24, "num_gpus": 1}
A100 = {"hardware": "gpu", "gpu_name": "A100", "gpu_memory_gb": 80, "num_gpus": 1}
CPU = {"hardware": "cpu", "ram_gb": 16}

OBJECTIVES = [
    ("chat logs -> sft", state(use_case={"task_kind": "chat"}, data={"layout": "chat", "rows": 2000}, constraints=A100), "sft"),
    ("labelled -> sft", state(use_case={"task_kind": "classification"}, data={"layout": "labelled", "rows": 3000}, constraints=A100), "sft"),
    ("pairs, chat -> dpo", state(use_case={"task_kind": "chat"}, data={"layout": "preference_pairs", "rows": 3000}, constraints=A100), "dpo"),
    ("pairs, new format -> orpo", state(use_case={"task_kind": "extraction"}, data={"has_pairs": True, "rows": 3000}, constraints=A100), "orpo"),
    ("thumbs -> kto", state(data={"has_ratings": True, "rows": 5000}, constraints=A100), "kto"),
    ("big raw corpus -> cpt", state(use_case={"task_kind": "domain"}, data={"layout": "unlabelled_text", "size_mb": 5000}, constraints=A100), "continued_pretraining"),
    ("small raw text -> sft", state(use_case={"task_kind": "style"}, data={"layout": "unlabelled_text", "rows": 300}, constraints=A100), "sft"),
    ("a voice from 8M tokens -> sft", state(use_case={"task_kind": "style"}, data={"layout": "unlabelled_text", "tokens": 8_000_000}, constraints=A100), "sft"),
    ("a world's 40M tokens -> cpt", state(use_case={"task_kind": "style"}, data={"layout": "unlabelled_text", "tokens": 40_000_000}, constraints=A100), "continued_pretraining"),
    ("20 rows -> none", state(data={"layout": "chat", "rows": 20}, constraints=CPU), "none"),
    ("changing facts -> none", state(use_case={"facts_change_often": True}, data={"layout": "chat", "rows": 5000}, constraints=A100), "none"),
    ("asked for kto on ratings", state(data={"layout": "ratings", "rows": 900}, preferences={"objective": "kto"}, constraints=GPU24), "kto"),
]

METHODS = [
    ("cpu -> lora on the default", state(data={"layout": "chat", "rows": 1000}, constraints=CPU), "lora", "SmolLM2-135M-Instruct"),
    ("24 GB + 7B -> qlora", state(data={"layout": "chat", "rows": 5000}, constraints=GPU24, preferences={"base_model": "Qwen2.5-7B-Instruct"}), "qlora", "Qwen2.5-7B-Instruct"),
    ("80 GB classifier -> lora", state(use_case={"task_kind": "classification"}, data={"layout": "labelled", "rows": 5000}, constraints=A100), "lora", "Qwen2.5-1.5B-Instruct"),
    ("quality first -> dora", state(use_case={"task_kind": "chat"}, data={"layout": "chat", "rows": 5000}, constraints=A100, success={"priority": "quality"}), "dora", None),
    ("8 GPUs, lots of data -> full", state(data={"layout": "chat", "rows": 100_000}, constraints={**A100, "num_gpus": 8}), "full", None),
    ("per-tenant classifier -> prompt tuning", state(use_case={"task_kind": "classification"}, data={"layout": "labelled", "rows": 2000}, constraints=GPU24, deployment={"many_adapters": True}), "prompt_tuning", None),
    ("150 summaries -> prefix tuning", state(use_case={"task_kind": "summarization"}, data={"layout": "prompt_completion", "rows": 150}, constraints=GPU24), "prefix_tuning", None),
    ("prompting -> none", state(data={"rows": 10}, constraints=CPU), "none", None),
    ("qlora asked on a cpu -> lora", state(data={"layout": "chat", "rows": 500}, constraints=CPU, preferences={"method": "qlora"}), "lora", "SmolLM2-135M-Instruct"),
]


@pytest.mark.parametrize(("name", "st", "objective"), OBJECTIVES, ids=[o[0] for o in OBJECTIVES])
def test_objective_follows_the_data_and_the_use_case(name, st, objective):
    rec = recommend(st)
    assert rec.objective == objective, rec.reasons
    assert rec.reasons
    if objective == "none":
        assert rec.method == "none" and rec.instead
    else:
        assert rec.estimate.verdict != "won't fit"


@pytest.mark.parametrize(("name", "st", "method", "model"), METHODS, ids=[m[0] for m in METHODS])
def test_method_and_model_fit_the_hardware(name, st, method, model):
    rec = recommend(st)
    assert rec.method == method, rec.reasons
    if model:
        assert rec.base_model == model
    if rec.trains:
        assert rec.estimate.verdict != "won't fit"
        assert rec.estimate.peak_memory_gb <= rec.estimate.available_gb


def test_every_objective_and_method_is_covered_by_the_tables():
    assert {o[2] for o in OBJECTIVES} == {"sft", "dpo", "orpo", "kto", "continued_pretraining", "none"}
    assert {m[2] for m in METHODS} == {"full", "lora", "qlora", "dora", "prompt_tuning", "prefix_tuning", "none"}


def test_recommend_is_pure_and_repeatable():
    st = state(data={"layout": "chat", "rows": 2000}, constraints=GPU24)
    before = st.model_dump()
    assert recommend(st) == recommend(st)
    assert st.model_dump() == before


def test_reasons_cite_the_users_words():
    st = state(data={"layout": "ratings", "rows": 4000}, constraints=A100,
               notes={"data.layout": "thumbs up/down from our widget"})
    rec = recommend(st)
    assert any("thumbs up/down from our widget" in r for r in rec.reasons)


def test_risks_name_pii_licence_and_little_data():
    st = state(data={"layout": "chat", "rows": 200, "contains_pii": True}, constraints=A100,
               preferences={"base_model": "Llama-3.1-8B-Instruct"})
    rec = recommend(st)
    risks = " ".join(rec.risks)
    assert "Overfitting" in risks and "Personal data" in risks and "Llama 3.1 Community License" in risks


def test_unknown_hardware_is_planned_for_this_machine_and_said():
    rec = recommend(state(data={"layout": "chat", "rows": 1000}))
    assert any("hardware not given" in a for a in rec.assumptions)


def test_a_cpu_run_is_capped_to_about_an_hour():
    rec = recommend(state(data={"layout": "chat", "rows": 50_000}, constraints=CPU))
    assert rec.hyperparameters.get("max_steps")
    assert rec.estimate.duration_min <= 61
    assert any("Capped" in r for r in rec.risks)


def test_every_flat_update_name_sets_its_nested_field():
    from assistant.state import _UPDATE_TARGETS, StateUpdate, apply_update

    samples = {str: "x", bool: True, int: 3, float: 2.5}
    for flat, (part, field) in _UPDATE_TARGETS.items():
        info = StateUpdate.model_fields[flat]
        nested = ConversationState.model_fields[part].annotation.model_fields[field]
        assert info.description == nested.description
        value = next((v for t, v in samples.items() if _accepts(info.annotation, t)), None)
        if value is None:  # a Literal: its first choice
            value = _first_choice(info.annotation)
        new = apply_update(ConversationState(), StateUpdate(**{flat: value}))
        assert getattr(getattr(new, part), field) == value, flat
    # The names another parser fills stay the same.
    assert {"data_location", "data_layout", "wants_method", "success_criteria", "deployment_target",
            "example_answer", "skip", "just_recommend"} <= set(StateUpdate.model_fields)


def _accepts(annotation, kind) -> bool:
    from typing import get_args

    return kind in get_args(annotation)


def _first_choice(annotation):
    from typing import get_args

    literal = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(literal)[0]
