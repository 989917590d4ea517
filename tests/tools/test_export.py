"""Taking a run out of the app: zip the adapter, merge it into a full model, push with a token that never leaks."""

import zipfile

import pytest
import torch

from tools.export.bundle import ExportError, merge_adapter, push_to_hub, zip_output
from tools.quickstart.demo import quickstart


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    quickstart(model=str(tiny_model_dir), out_dir=out, max_steps=2, max_new_tokens=4)
    return out


def test_zip_holds_the_peft_adapter(run_dir):
    archive = zip_output(run_dir)
    names = zipfile.ZipFile(archive).namelist()
    assert "adapter_config.json" in names and "adapter_model.safetensors" in names
    assert not list(archive.parent.glob("*.tmp*")), "no temp files left beside the archive"


def test_merged_model_reproduces_the_adapter_logits(run_dir):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    merged_dir = merge_adapter(run_dir)
    assert (merged_dir / "config.json").is_file() and (merged_dir / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 20, 300, 4000]])
    with torch.no_grad():
        expected = AutoPeftModelForCausalLM.from_pretrained(run_dir / "adapter")(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir)(ids).logits
    assert torch.allclose(expected, merged, atol=1e-4)


def test_push_refuses_bad_repo_ids_and_missing_tokens(run_dir):
    with pytest.raises(ExportError, match="your-name/model-name"):
        push_to_hub(run_dir, "not a repo", "hf_x")
    with pytest.raises(ExportError, match="token"):
        push_to_hub(run_dir, "me/model", "  ")


def test_a_failed_push_never_shows_the_token(run_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: the upload must fail
    secret = "hf_SuperSecretToken123"
    with pytest.raises(ExportError) as info:
        push_to_hub(run_dir, "me/model", secret)
    assert secret not in str(info.value) and "Could not push to me/model" in str(info.value)
