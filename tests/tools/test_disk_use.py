"""M4: writes that can fill the disk are sized first and refused with what to do, and preparing data for a hub
model downloads its tokenizer, not its weights."""

from __future__ import annotations

import shutil
from collections import namedtuple

import huggingface_hub
import pytest

from tools import paths
from tools.data import prepare_data
from tools.export.bundle import zip_output
from tools.models import resolve
from tools.quickstart.demo import demo_dataset_path
from tools.train import runs
from ui.services import store_upload

_Usage = namedtuple("_Usage", "total used free")


@pytest.fixture
def nearly_full(monkeypatch):
    """A 100 GB disk with 1.1 GB free: the 1 GB margin leaves about 100 MB for our writes."""
    monkeypatch.setattr(shutil, "disk_usage", lambda _: _Usage(100 * 2**30, 0, int(1.1 * 2**30)))


def test_a_write_that_cannot_fit_is_refused_before_anything_is_written(nearly_full, tmp_path):
    big = tmp_path / "chats.jsonl"
    with open(big, "wb") as fh:
        fh.truncate(200 * 2**20)  # 200 MB (sparse): its upload copy would not fit
    with pytest.raises(paths.DiskFullError, match=r"the upload chats.jsonl: about 0.2 GB needed, 0.1 GB free"):
        store_upload(str(big))
    assert not any(paths.uploads_dir().rglob("*.jsonl"))

    source = tmp_path / "data.jsonl"
    with open(source, "wb") as fh:
        fh.truncate(60 * 2**20)  # prepared data takes about twice the source
    with pytest.raises(paths.DiskFullError, match="the prepared data"):
        prepare_data(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_adapter_archive_that_cannot_fit_is_refused(nearly_full):
    run = paths.runs_dir() / "r1"
    (run / "adapter").mkdir(parents=True)
    with open(run / "adapter" / "adapter_model.safetensors", "wb") as fh:
        fh.truncate(150 * 2**20)
    runs.upsert("r1", run_dir=str(run), status="completed")
    with pytest.raises(paths.DiskFullError, match="the adapter archive"):
        zip_output(run)
    assert not any((run / "exports").iterdir())


def test_small_writes_pass_on_the_same_disk(nearly_full, tmp_path, tiny_model_dir):
    report = prepare_data(demo_dataset_path(), tmp_path / "out", model=str(tiny_model_dir), max_length=64)
    assert report.usable_rows > 0 and (tmp_path / "out" / "train.jsonl").is_file()


def _fake_hub(tmp_path, asked: list, cached: bool):
    """huggingface_hub.snapshot_download that records what it was asked; `cached`: a snapshot already holds
    the tokenizer files (and no weights)."""
    def snapshot_download(repo_id, allow_patterns, local_files_only=False):
        asked.append((local_files_only, tuple(allow_patterns)))
        if local_files_only and not cached:
            raise FileNotFoundError("not cached")
        folder = tmp_path / "snap"
        folder.mkdir(exist_ok=True)
        return str(folder)

    return snapshot_download


def test_data_preparation_downloads_a_hub_models_tokenizer_not_its_weights(monkeypatch, tmp_path):
    asked: list = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _fake_hub(tmp_path, asked, cached=False))
    resolve.resolve_model("someorg/huge-model", weights=False)
    assert asked and not any("*.safetensors" in patterns for _, patterns in asked)
    # Training later wants the weights: the tokenizer-only snapshot in the cache is not taken for the model.
    asked.clear()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", _fake_hub(tmp_path, asked, cached=True))
    resolve.resolve_model("someorg/huge-model")
    assert [local for local, _ in asked] == [True, False] and "*.safetensors" in asked[-1][1]
