"""M8: what a Hub push publishes. No network: a fake Hub records the calls and the staged folder is inspected."""

import json
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub.errors import RepositoryNotFoundError

from tools import paths
from tools.export.bundle import ExportError, public_text, push_to_hub

SESSION = "0123456789abcdef0123456789abcdef"


class FakeHub:
    """The three HfApi calls a push makes; `existing` maps repo id -> private flag."""

    def __init__(self, existing: dict[str, bool] | None = None):
        self.existing, self.created, self.uploaded = dict(existing or {}), [], {}

    def repo_info(self, repo_id):
        if repo_id not in self.existing:
            response = httpx.Response(404, request=httpx.Request("GET", f"https://hub.invalid/api/models/{repo_id}"))
            raise RepositoryNotFoundError(f"{repo_id} not found", response=response)
        return type("Info", (), {"private": self.existing[repo_id]})()

    def create_repo(self, repo_id, private):
        self.created.append((repo_id, private))
        self.existing[repo_id] = private

    def upload_folder(self, repo_id, folder_path, commit_message):
        self.uploaded = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}


@pytest.fixture
def run_dir(tmp_path):
    home = paths.home()
    run = paths.runs_dir() / "r1"
    adapter = run / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": str(home / "models" / "SmolLM2-135M-Instruct"), "r": 8, "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "training_args.bin").write_bytes(b"\x80\x04pickle")
    upload = home / "uploads" / SESSION / "chats.jsonl"
    (run / "README.md").write_text(
        f"# r1\n\nPrepared data `{home}/datasets/chats-1a2b3c` from `{upload}`: conversational rows.\n"
        f"Base `{Path.home()}/models/x`. See https://huggingface.co/docs/peft and runs/r1/plan.yaml.\n")
    return run


def test_the_pushed_files_hold_no_pickle_no_absolute_path_and_no_session_id(run_dir):
    hub = FakeHub()
    assert push_to_hub(run_dir, "me/bot", "hf_x", api=hub) == "https://huggingface.co/me/bot"
    assert hub.created == [("me/bot", True)], "private by default"
    assert set(hub.uploaded) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    everything = b"".join(hub.uploaded.values()).decode()
    assert SESSION not in everything and str(paths.home()) not in everything
    assert os.sep + Path.home().name + os.sep not in everything
    assert json.loads(hub.uploaded["adapter_config.json"])["base_model_name_or_path"] == "SmolLM2-135M-Instruct"
    card = hub.uploaded["README.md"].decode()
    assert "chats.jsonl" in card and "https://huggingface.co/docs/peft" in card and "runs/r1/plan.yaml" in card
    assert not (run_dir / "adapter" / "README.md").exists(), "the run's own folder is left as it was"
    assert not list(run_dir.glob(".push-*")), "the staging folder is removed"


def test_an_existing_repo_needs_overwrite(run_dir):
    hub = FakeHub(existing={"me/public-bot": False})
    with pytest.raises(ExportError, match="already exists \\(PUBLIC\\).*--overwrite"):
        push_to_hub(run_dir, "me/public-bot", "hf_x", api=hub)
    assert hub.uploaded == {}
    push_to_hub(run_dir, "me/public-bot", "hf_x", api=hub, overwrite=True)
    assert hub.created == [] and "adapter_model.safetensors" in hub.uploaded


def test_public_text_keeps_relative_paths_and_urls():
    assert public_text("see `/home/ann/.cache/x/runs/r1` and https://a.b/c") == "see `r1` and https://a.b/c"
    assert public_text(f"uploads/{SESSION}/x") == "uploads/<id>/x"
