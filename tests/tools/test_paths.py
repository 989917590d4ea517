"""The data dir and atomic outputs: no half-written folder, and never a user's folder emptied."""

import pytest
from typer.testing import CliRunner

from tools import paths
from ui.cli import app
from tools.quickstart.demo import demo_dataset_path


def test_data_dir_follows_the_environment(app_home):
    assert paths.home() == app_home
    assert paths.runs_dir() == app_home / "runs" and paths.runs_dir().is_dir()


def test_a_failed_write_leaves_neither_the_output_nor_temp_files(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), paths.atomic_dir(target) as tmp:
        (tmp / "half.json").write_text("{")
        raise RuntimeError("disk full")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_we_wrote_is_replaced_whole(tmp_path):
    target = tmp_path / "prepared"
    with paths.atomic_dir(target, replaces="report.json") as tmp:
        (tmp / "report.json").write_text("1")
        (tmp / "old-only.txt").write_text("x")
    with paths.atomic_dir(target, replaces="report.json") as tmp:
        (tmp / "report.json").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["report.json"]
    assert (target / "report.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["prepared"]


def test_a_users_folder_is_refused_and_left_untouched(tmp_path):
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    with pytest.raises(FileExistsError, match="holds other files"), paths.atomic_dir(mine, replaces="report.json"):
        pass
    assert (mine / "thesis.txt").read_text() == "years of work"


def test_data_prepare_into_a_users_folder_says_so_without_a_traceback(tmp_path, tiny_model_dir):
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "keep.md").write_text("keep me")
    result = CliRunner().invoke(app, ["data", "prepare", str(demo_dataset_path()), "--out", str(mine),
                                      "--model", str(tiny_model_dir)])
    assert result.exit_code == 2
    assert "holds other files" in result.output and "Traceback" not in result.output
    assert (mine / "keep.md").read_text() == "keep me"


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    """L4: a write that fails half-way (here: text the encoder refuses, like a full disk) leaves no `.x.tmp-*`."""
    target = tmp_path / "run.json"
    paths.atomic_write_text(target, "old")
    with pytest.raises(UnicodeEncodeError):
        paths.atomic_write_text(target, "new \ud800")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_stale_leftovers_of_interrupted_writes_are_swept_and_fresh_ones_kept(app_home):
    import os
    import time

    run = paths.runs_dir() / "r1"
    run.mkdir()
    old_dir, old_file = run / ".eval.tmp-abc", paths.datasets_dir() / ".report.json.tmp-xyz"
    fresh = run / ".adapter.old-def"
    old_dir.mkdir()
    (old_dir / "report.json").write_text("{}")
    old_file.write_text("x")
    fresh.mkdir()
    day_ago = time.time() - 2 * 86400
    for p in (old_dir, old_file):
        os.utime(p, (day_ago, day_ago))
    assert sorted(paths.sweep_stale()) == sorted([old_dir, old_file])
    assert not old_dir.exists() and not old_file.exists() and fresh.exists()
