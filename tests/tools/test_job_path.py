"""One job path for every entry point: `finetune-assistant train` goes through the queue like the agent,
the job prepares, trains and evaluates itself, and the queue moves with no app or browser running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.tools._child import as_from_a_terminal
from tools import paths
from tools.data import DataSpec, dataset_dir, prepare_data
from tools.quickstart.demo import demo_dataset_path
from tools.train import jobs, runs
from tools.train.run_dir import RunDir

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.Popen:
    """`finetune-assistant ...` as its own process, from this checkout, on the test's data dir."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "ui.cli", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_from_a_terminal)


def _wait_for(predicate, timeout_s=120, what="condition"):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _row(folder: Path) -> dict | None:
    return runs.find_by_dir(folder)


def _train_args(model: Path, data: Path, out: Path, steps: int = 2) -> list[str]:
    return ["train", "--model", str(model), "--data", str(data), "--max-steps", str(steps), "--batch-size", "2",
            "--max-length", "64", "--output", str(out)]


def test_two_train_commands_at_once_the_second_waits_then_runs(tiny_model_dir, tmp_path):
    data = tmp_path / "prepared"
    prepare_data(demo_dataset_path(), data, DataSpec(model=str(tiny_model_dir), max_length=64))
    first_dir, second_dir, third_dir = tmp_path / "first", tmp_path / "second", tmp_path / "third"

    # Long enough to stay training while three more commands start (~5 s each) and queue behind it, even on
    # a fast idle machine (8 steps finished before the fourth was interrupted there).
    first = _cli(*_train_args(tiny_model_dir, data, first_dir, steps=120))
    _wait_for(lambda: (_row(first_dir) or {}).get("status") in runs.ACTIVE, what="the first run to start")
    first_id = _row(first_dir)["run_id"]
    second = _cli(*_train_args(tiny_model_dir, data, second_dir))
    _wait_for(lambda: (_row(second_dir) or {}).get("status") == "queued", what="the second run to queue")
    assert jobs.queue_position(_row(second_dir)["run_id"]) == 1
    assert jobs.start_next() is None, "nothing may start while a run trains"

    # --detach returns at once, queued, and says so; a queued job can be taken out again.
    detached = _cli(*_train_args(tiny_model_dir, data, third_dir), "--detach")
    out, err = detached.communicate(timeout=60)
    third_id = _row(third_dir)["run_id"]
    assert detached.returncode == 0 and out.strip() == third_id
    assert f"queued at position 2, behind run {first_id}" in err, err
    cancel = _cli("cancel", third_id)
    assert cancel.communicate(timeout=60)[0].strip() == f"run {third_id}: cancelled (removed from the queue before it started)"
    assert jobs.queue_position(third_id) is None

    # Ctrl-C while waiting in the queue leaves the job queued, and says so.
    fourth_dir = tmp_path / "fourth"
    fourth = _cli(*_train_args(tiny_model_dir, data, fourth_dir))
    _wait_for(lambda: (_row(fourth_dir) or {}).get("status") == "queued", what="the fourth run to queue")
    time.sleep(1)  # past the first status print, inside the wait loop
    fourth.send_signal(signal.SIGINT)
    _, err4 = fourth.communicate(timeout=60)
    assert fourth.returncode == 130 and "stays queued" in err4, err4
    assert _row(fourth_dir)["status"] == "queued"
    jobs.cancel(_row(fourth_dir)["run_id"])

    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert f"queued at position 1, behind run {first_id}" in err2, err2
    assert "left the queue" in err2 and "done:" in out2
    # Ordered by what the jobs recorded, not by sleeps: the second started after the first had finished.
    one, two = RunDir(first_dir).info(), RunDir(second_dir).info()
    assert one["status"] == two["status"] == "completed"
    assert two["started_at"] >= one["finished_at"]
    assert runs.find_by_dir(third_dir)["status"] == "cancelled" and not RunDir(third_dir).holds_run()


def test_the_queue_moves_with_no_app_and_the_job_prepares_its_own_data(tiny_model_dir, tmp_path):
    source = tmp_path / "chats.jsonl"
    source.write_bytes(demo_dataset_path().read_bytes())
    plan = {"source": str(source), "data": {"model": str(tiny_model_dir), "max_length": 64, "val_fraction": 0.2},
            "training": {"base_model": str(tiny_model_dir), "data_dir": str(tmp_path / "not-prepared-yet"),
                         "max_steps": 2, "batch_size": 2, "max_length": 64},
            "evaluate": False}
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:  # both return at once; no process of ours stays to move the queue
        cli = _cli("train", str(plan_file), "--output", str(folder), "--detach")
        assert cli.wait(timeout=120) == 0, cli.stderr.read()
    ids = [_row(f)["run_id"] for f in folders]
    assert _row(folders[1])["status"] == "queued"

    done = runs.wait(ids[1], timeout_s=600)  # reads rows only; never starts anything
    assert done.status == "completed", RunDir(folders[1]).log_tail(40)
    first, second = RunDir(folders[0]), RunDir(folders[1])
    assert second.info()["started_at"] >= first.info()["finished_at"]
    assert f"started the next queued job: {ids[1]}" in first.log_tail(50)
    # The job prepared the data itself, into a folder named by content and settings; the second reused it.
    prepared = Path(first.plan().training.data_dir)
    assert prepared == dataset_dir(source, first.plan().data) and prepared.parent == paths.datasets_dir()
    assert second.plan().training.data_dir == str(prepared)
    assert "preparing_at" in first.info() and (prepared / "validation.jsonl").is_file()


def test_a_new_approval_never_rewrites_the_data_an_earlier_run_used(tmp_path):
    """M9: same file name, other content or other settings -> another folder; identical inputs -> the same."""
    source = tmp_path / "chats.jsonl"
    source.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    spec = DataSpec(val_fraction=0.1)
    first = dataset_dir(source, spec)
    assert dataset_dir(source, DataSpec(val_fraction=0.1)) == first
    assert dataset_dir(source, DataSpec(val_fraction=0.2)) != first
    source.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n')
    assert dataset_dir(source, spec) != first
    assert first.name.startswith("chats-")
