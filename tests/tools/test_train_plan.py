"""TrainingPlan: cross-field checks with plain messages, YAML round trip, cheap imports."""

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from tools.train.plan import PlanError, TrainingPlan, build_plan, cuda_available


def _prepared(tmp_path, kind: str):
    folder = tmp_path / kind
    folder.mkdir()
    (folder / "train.jsonl").write_text("")
    (folder / "report.json").write_text(json.dumps({"dataset_type": kind, "rows": 10, "train_rows": 9}))
    return folder


@pytest.mark.parametrize("objective,kind,needed", [
    ("dpo", "conversational", "preference"),
    ("orpo", "prompt_completion", "preference"),
    ("kto", "preference", "unpaired_preference"),
    ("continued_pretraining", "conversational", "language_modeling"),
    ("sft", "preference", "conversational or prompt_completion or language_modeling"),
])
def test_objective_rejects_the_wrong_kind_of_data_naming_both(tmp_path, objective, kind, needed):
    folder = _prepared(tmp_path, kind)
    with pytest.raises(ValidationError) as err:
        TrainingPlan(data_dir=str(folder), objective=objective)
    message = str(err.value)
    assert f"objective {objective} needs {needed} data" in message
    assert f"holds {kind} data" in message


def test_matching_data_builds_and_resolves_the_recommended_settings(tmp_path):
    chat = TrainingPlan(data_dir=str(_prepared(tmp_path, "conversational")), method="lora")
    assert chat.resolved_assistant_only_loss and not chat.resolved_packing
    assert chat.resolved_learning_rate == 9.7e-4  # the 135M default at rank 16: model size scales the adapter rate
    text = TrainingPlan(data_dir=str(_prepared(tmp_path, "language_modeling")), objective="continued_pretraining")
    assert text.resolved_packing and not text.resolved_assistant_only_loss
    assert TrainingPlan(data_dir=str(_prepared(tmp_path, "preference")), objective="dpo").resolved_learning_rate == 5e-5


def test_a_draft_plan_may_name_a_folder_not_prepared_yet(tmp_path):
    plan = TrainingPlan(data_dir=str(tmp_path / "later"), objective="dpo")
    assert plan.dataset_type is None


@pytest.mark.skipif(cuda_available(), reason="checks the CPU-only message")
def test_qlora_on_a_cpu_says_why_and_offers_lora(tmp_path):
    with pytest.raises(ValidationError) as err:
        TrainingPlan(data_dir=str(tmp_path), method="qlora")
    assert "needs a CUDA GPU" in str(err.value) and "Use method lora instead" in str(err.value)


def test_other_cross_field_checks(tmp_path):
    lm = _prepared(tmp_path, "language_modeling")
    pref = _prepared(tmp_path, "preference")
    cases = [
        (dict(data_dir=str(pref), objective="dpo", method="prompt_tuning"), "works with objective sft"),
        (dict(data_dir=str(tmp_path), method="prefix_tuning", gradient_checkpointing=True), "gradient_checkpointing"),
        (dict(data_dir=str(lm), assistant_only_loss=True), "needs conversational"),
        (dict(data_dir=str(tmp_path), eval_split="none", eval_steps=5), "eval_split is none"),
        (dict(data_dir=str(tmp_path), lora_targets=[]), "lora_targets is empty"),
    ]
    for fields, expected in cases:
        with pytest.raises(ValidationError, match=expected):
            TrainingPlan(**fields)


def test_build_plan_names_every_bad_field_without_pydantic_noise():
    with pytest.raises(PlanError) as err:
        build_plan({"data_dir": "x", "methd": "lora", "epochs": -1, "method": "adapter"}, where="plan.yaml")
    message = str(err.value)
    assert message.startswith("plan.yaml: ")
    assert "methd: unknown field" in message and "epochs: Input should be greater than 0" in message
    assert "method: Input should be 'full'" in message
    assert "errors.pydantic.dev" not in message


def test_yaml_round_trip_and_readable_errors(tmp_path):
    plan = TrainingPlan(data_dir=str(tmp_path), method="dora", lora_targets=["q_proj", "v_proj"], max_steps=7)
    path = tmp_path / "plan.yaml"
    plan.to_yaml(path)
    assert TrainingPlan.from_yaml(path) == plan
    assert TrainingPlan.from_yaml(path.read_text()) == plan
    (tmp_path / "bad.yaml").write_text("method: [lora\n")
    with pytest.raises(PlanError, match="bad.yaml: not valid YAML"):
        TrainingPlan.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(PlanError, match="plan file not found"):
        TrainingPlan.from_yaml(tmp_path / "missing.yaml")


def test_importing_the_training_api_loads_no_heavy_library():
    code = ("import sys, tools.train, tools.train.launch, tools.train.cli, tools.train.estimate; "
            "print([m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_learning_rate_depends_on_method_rank_and_model_size_together():
    from tools.train.plan import model_params, recommended_learning_rate

    small, big = model_params("default"), model_params("meta-llama/Llama-3.1-8B")
    assert big == 8e9 and small == 1.35e8
    assert recommended_learning_rate("sft", "lora", 16, 32, big) == 2e-4  # the published 7B-class rate
    assert recommended_learning_rate("sft", "lora", 16, 32, small) > 4 * recommended_learning_rate("sft", "lora", 16, 32, big)
    assert recommended_learning_rate("sft", "lora", 8, 16, small) > recommended_learning_rate("sft", "lora", 32, 64, small)
    # alpha/r scales the update: doubling alpha halves the rate
    assert recommended_learning_rate("sft", "lora", 16, 64, big) == 1e-4
    assert recommended_learning_rate("sft", "full", params=small) < recommended_learning_rate("sft", "lora", params=small)
