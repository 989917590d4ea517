"""`prepare_data` right after `inspect_data` reuses the analysis when source and spec are unchanged,
writes what a cold `prepare_data` writes, and analyses again when the file or the spec changed."""

import json
import os

import pytest

import tools.data.prepare as pipeline
from tools.data import DataSpec, cache, inspect_data, prepare_data


def _chat(question, answer):
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


ROWS = [_chat(f"How do I fix fault {i} on bike {100 + i}? {'It rattles. ' * i}", f"Step {i}: mail rider{i}@example.com.")
        for i in range(12)] + [_chat("How do I fix fault 1 on bike 101?  It rattles.", "Step 1: mail rider1@example.com.")]  # fmt: skip
_TIMING = {"seconds", "out_dir", "train_rows", "validation_rows", "test_rows", "test_sha256"}  # fields prepare fills in


@pytest.fixture
def analyses(monkeypatch):
    """The sources the pipeline read: one entry per analysis actually run (a reused one reads nothing)."""
    calls = []
    real = pipeline.load_source

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_source", counting)
    cache.clear()
    yield calls
    cache.clear()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "chats.jsonl"
    _write(path, ROWS)
    return path


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _spec(model, **overrides):
    return DataSpec(model=str(model), max_length=64, **overrides)


def _texts(folder):
    splits = [folder / f"{name}.jsonl" for name in ("train", "validation", "test")]  # test: the locked split
    return "".join(p.read_text(encoding="utf-8") for p in splits if p.is_file())


def test_prepare_after_inspect_reuses_the_analysis_and_writes_what_a_cold_prepare_writes(analyses, source, tiny_model_dir, tmp_path):
    spec = _spec(tiny_model_dir)
    inspected = inspect_data(source, spec)
    reused = prepare_data(source, tmp_path / "reused", spec)
    assert len(analyses) == 1
    assert inspected.out_dir is None  # the caller's report is not the one prepare filled in
    assert reused.model_dump(exclude=_TIMING) == inspected.model_dump(exclude=_TIMING)
    assert reused.exact_duplicates == 1 and reused.pii["EMAIL"] == 13

    cache.clear()
    cold = prepare_data(source, tmp_path / "cold", spec)
    assert len(analyses) == 2
    assert reused.model_dump(exclude={"seconds", "out_dir"}) == cold.model_dump(exclude={"seconds", "out_dir"})
    for name in ("train.jsonl", "validation.jsonl", "report.md"):
        assert (tmp_path / "reused" / name).read_bytes() == (tmp_path / "cold" / name).read_bytes()
    reused_json, cold_json = (json.loads((tmp_path / side / "report.json").read_text()) for side in ("reused", "cold"))
    for timing in ("seconds", "out_dir"):
        reused_json.pop(timing), cold_json.pop(timing)
    assert reused_json == cold_json


def test_a_rewritten_touched_or_same_size_edited_file_is_analysed_again(analyses, source, tiny_model_dir, tmp_path):
    spec = _spec(tiny_model_dir)
    before = inspect_data(source, spec)
    _write(source, [*ROWS, _chat("Can I ride the Larkspur Tandem in snow?", "Yes, with studded tyres.")])
    after = prepare_data(source, tmp_path / "out", spec)
    assert len(analyses) == 2
    assert after.usable_rows == before.usable_rows + 1 and "studded tyres" in _texts(tmp_path / "out")

    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: same bytes
    assert inspect_data(source, spec).usable_rows == after.usable_rows
    assert len(analyses) == 3

    # The same size and modification time, other bytes (file times tick too coarsely to trust alone).
    stat = source.stat()
    source.write_text(source.read_text(encoding="utf-8").replace("studded tyres", "studded tires"), encoding="utf-8")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.stat().st_size == stat.st_size
    prepare_data(source, tmp_path / "again", spec)
    assert len(analyses) == 4 and "studded tires" in _texts(tmp_path / "again")


def test_another_spec_is_analysed_again_but_split_settings_reuse_the_analysis(analyses, source, tiny_model_dir, tmp_path):
    redacted = inspect_data(source, _spec(tiny_model_dir))
    plain = inspect_data(source, _spec(tiny_model_dir, pii_redaction=False))
    assert len(analyses) == 2
    assert redacted.pii["EMAIL"] == 13 and plain.pii["EMAIL"] == 0
    assert "rider0@example.com" in json.dumps(plain.samples) and "rider0@example.com" not in json.dumps(redacted.samples)

    # val_fraction and seed only choose the split when writing, so the analysis is reused.
    spec = _spec(tiny_model_dir, pii_redaction=False, val_fraction=0.25, seed=7)
    reused = prepare_data(source, tmp_path / "reused", spec)
    assert len(analyses) == 2
    assert reused.spec == spec and reused.validation_rows == round(plain.usable_rows * 0.25)
    cache.clear()
    cold = prepare_data(source, tmp_path / "cold", spec)
    assert reused.model_dump(exclude={"seconds", "out_dir"}) == cold.model_dump(exclude={"seconds", "out_dir"})
    assert _texts(tmp_path / "reused") == _texts(tmp_path / "cold")


def test_a_file_added_to_a_folder_source_is_analysed_again(analyses, tmp_path, tiny_model_dir):
    folder = tmp_path / "chats"
    folder.mkdir()
    _write(folder / "a.jsonl", ROWS[:6])
    spec = _spec(tiny_model_dir)
    first = inspect_data(folder, spec)
    (folder / "sub").mkdir()
    _write(folder / "sub" / "b.jsonl", ROWS[6:12])
    second = inspect_data(folder, spec)
    assert len(analyses) == 2 and second.usable_rows == first.usable_rows + 6
