"""The first end-to-end slice: demo data -> LoRA SFT -> base and tuned answers."""

import json

import pytest
from safetensors.torch import load_file

from tools.quickstart.demo import demo_dataset_path, quickstart


def test_demo_dataset_is_chat_data_written_for_the_project():
    rows = [json.loads(line) for line in demo_dataset_path().read_text().splitlines()]
    assert len(rows) >= 30
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert "Larkspur" in row["messages"][0]["content"]


def test_quickstart_saves_a_peft_adapter_whose_weights_moved(tiny_model_dir, tmp_path):
    result = quickstart(model=str(tiny_model_dir), out_dir=tmp_path / "run", max_steps=3, max_new_tokens=8)

    adapter = tmp_path / "run" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16
    weights = load_file(adapter / "adapter_model.safetensors")
    # PEFT initialises every lora_B to zeros, so a non-zero B proves training moved the adapter.
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)
    assert len(result.losses) == 3
    assert isinstance(result.base_answer, str) and isinstance(result.tuned_answer, str)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["adapter_dir"] == str(adapter)


@pytest.mark.slow
def test_quickstart_on_smollm2_lowers_the_loss(smollm2_dir, tmp_path):
    result = quickstart(model=str(smollm2_dir), out_dir=tmp_path / "run", max_steps=20)
    print(f"\nSmolLM2 quickstart loss: first={result.first_loss:.3f} last={result.last_loss:.3f}")
    print(f"base:  {result.base_answer!r}\ntuned: {result.tuned_answer!r}")
    head = sum(result.losses[:3]) / 3
    tail = sum(result.losses[-3:]) / 3
    assert tail < head * 0.8
    assert result.tuned_answer != result.base_answer
