"""Plan and TrainingPlan: coherence checks when built, this-machine checks at approval, YAML round trip."""

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from tools.data.spec import DataSpec
from tools.train.hardware import Hardware
from tools.train.plan import Plan, PlanError, TrainingPlan, build_plan, check_runnable, cuda_available


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
    plan = Plan(training=TrainingPlan(data_dir=str(folder), objective=objective))  # coherent as far as it knows
    problems = check_runnable(plan)
    assert len(problems) == 1
    assert f"objective {objective} needs {needed} data" in problems[0]
    assert f"holds {kind} data" in problems[0]
    # Known before preparing (from the interview), the same mismatch is refused when the plan is built.
    with pytest.raises(ValidationError, match=f"objective {objective} needs {needed} data"):
        Plan(dataset_type=kind, training=TrainingPlan(data_dir=str(folder), objective=objective))


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


def test_qlora_builds_anywhere_and_check_runnable_says_why_it_cannot_run_on_a_cpu(tmp_path):
    plan = Plan(training=TrainingPlan(data_dir=str(_prepared(tmp_path, "conversational")), method="qlora"))
    cpu = Hardware.parse("CPU 16 GB")
    problems = check_runnable(plan, cpu)
    assert len(problems) == 1
    assert "needs a CUDA GPU" in problems[0] and "Use method lora instead" in problems[0]
    assert check_runnable(plan, Hardware.parse("1x RTX 4090 24 GB")) == []  # the user's GPU machine
    if not cuda_available():
        assert any("needs a CUDA GPU" in p for p in check_runnable(plan))  # this machine


def test_check_runnable_names_a_missing_source_by_its_own_name(tmp_path):
    plan = Plan(source=str(tmp_path / "uploads" / "s1" / "chats.jsonl"), source_name="chats.jsonl",
                training=TrainingPlan(data_dir=str(tmp_path / "prepared")))
    problems = check_runnable(plan)
    assert problems and problems[0].startswith("data file chats.jsonl is not there")
    (tmp_path / "uploads" / "s1").mkdir(parents=True)
    (tmp_path / "uploads" / "s1" / "chats.jsonl").write_text('{"text": "hi"}\n')
    assert check_runnable(plan) == []  # the job prepares data_dir, so it need not exist yet


def test_the_plan_round_trips_through_yaml_unchanged(tmp_path):
    plan = Plan(source=str(tmp_path / "chats.jsonl"), source_name="chats.jsonl", dataset_type="conversational",
                data=DataSpec(max_length=512, pii_redaction=False, val_fraction=0.2),
                training=TrainingPlan(data_dir=str(tmp_path / "out"), method="dora", lora_r=32, max_steps=7),
                evaluate=False)
    assert Plan.from_yaml(plan.to_yaml()) == plan
    plan.to_yaml(tmp_path / "plan.yaml")
    assert Plan.from_yaml(tmp_path / "plan.yaml") == plan
    bare = tmp_path / "bare.yaml"
    plan.training.to_yaml(bare)
    assert Plan.from_yaml(bare).training == plan.training  # an older run folder's plan.yaml


def test_a_revision_is_validated_as_a_whole_and_leaves_the_original(tmp_path):
    plan = Plan(dataset_type="conversational", training=TrainingPlan(data_dir=str(tmp_path)))
    new = plan.revised(training={"lora_r": 32}, data={"val_fraction": 0.2})
    assert (new.training.lora_r, new.data.val_fraction) == (32, 0.2)
    assert (plan.training.lora_r, plan.data.val_fraction) == (16, 0.1)
    with pytest.raises(PlanError, match="training.batch_size"):
        plan.revised(training={"batch_size": 0})
    with pytest.raises(PlanError, match="objective dpo needs preference data"):
        plan.revised(training={"objective": "dpo"})


def test_other_cross_field_checks(tmp_path):
    pref = _prepared(tmp_path, "preference")
    cases = [
        (dict(data_dir=str(pref), objective="dpo", method="prompt_tuning"), "works with objective sft"),
        (dict(data_dir=str(tmp_path), method="prefix_tuning", gradient_checkpointing=True), "gradient_checkpointing"),
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


def test_train_cli_loads_an_approved_plan_yaml_whole(tmp_path):
    from tools.train.cli import _plan_from_args

    folder = _prepared(tmp_path, "conversational")
    prepared = Plan(source_name="chats.jsonl", training=TrainingPlan(data_dir=str(folder), max_steps=3))
    prepared.to_yaml(tmp_path / "plan.yaml")
    loaded = _plan_from_args(tmp_path / "plan.yaml", {"epochs": 2.0}, None)
    assert loaded.training == prepared.training.model_copy(update={"epochs": 2.0})
    assert loaded.source_name == "chats.jsonl" and loaded.evaluate == prepared.evaluate
    # A plan that still names its source runs whole: the job prepares the data, then trains.
    raw = prepared.revised(source=str(tmp_path / "chats.jsonl"))
    raw.to_yaml(tmp_path / "raw.yaml")
    assert _plan_from_args(tmp_path / "raw.yaml", {}, False).source == raw.source


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
