"""Runs in their own process: the run folder, the registry, kill -9 / cancel / resume, 2-process accelerate, CLI."""

import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from typer.testing import CliRunner

from tools import procs
from tools.train import runs
from tools.train.jobs import RunError, cancel, list_runs, resume, status, submit, wait
from tools.train.plan import Plan, PlanError, TrainingPlan
from tools.train.run_dir import RunDir
from ui.cli import app

ROWS = [{"prompt": f"Question {i}: what is {i} plus {i}?", "completion": f" It is {2 * i}."} for i in range(12)]


@pytest.fixture
def data_dir(tmp_path):
    """A prepared prompt-completion folder as the data step writes it."""
    folder = tmp_path / "prepared"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:8]))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[8:]))
    report = {"dataset_type": "prompt_completion", "format": "jsonl", "rows": 12, "valid_rows": 12,
              "train_rows": 8, "validation_rows": 4, "source": "test"}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def _training(model, data, **fields):
    base = dict(base_model=str(model), data_dir=str(data), method="lora", batch_size=2, max_length=64,
                learning_rate=1e-3, warmup_ratio=0.0)
    return TrainingPlan(**{**base, **fields})


def _plan(model, data, **fields):
    return Plan(training=_training(model, data, **fields), evaluate=False)


def read_metrics(run_id):
    return RunDir(status(run_id).run_dir).metrics()


def _wait_for(predicate, timeout_s=180, what="condition"):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_cli_train_writes_a_reproducible_run_folder_and_runs_lists_it(tiny_model_dir, data_dir, tmp_path):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--model", str(tiny_model_dir), "--data", str(data_dir),
                                      "--method", "lora", "--max-steps", "3", "--max-length", "64",
                                      "--batch-size", "2", "--output", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "estimate: fits" in result.output and "3/3" in result.output and "loss" in result.output

    plan = yaml.safe_load((run_dir / "plan.yaml").read_text())["training"]
    assert plan["method"] == "lora" and plan["max_steps"] == 3 and plan["output_dir"] == str(run_dir)
    assert Plan.from_yaml(run_dir / "plan.yaml").training.data_dir == str(data_dir)
    assert not Plan.from_yaml(run_dir / "plan.yaml").evaluate, "the CLI evaluates only when asked (--eval)"
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if r["loss"] is not None]
    assert [r["step"] for r in logged] == [1, 2, 3]
    assert set(logged[0]) >= {"step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "elapsed"}
    assert any(r["tokens_per_s"] for r in logged)
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    card = (run_dir / "README.md").read_text()
    assert f"base_model: {tiny_model_dir}" in card and "library_name: peft" in card and "| method | lora |" in card
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["global_step"] == 3
    assert "tools.train" in (run_dir / "stdout.log").read_text()

    listed = CliRunner().invoke(app, ["runs", "--json"])
    assert [(r["status"], r["run_dir"], r["step"]) for r in json.loads(listed.output)] == [("completed", str(run_dir), 3)]


def test_kill_9_then_resume_then_cancel_then_resume_finishes_the_run(tiny_model_dir, data_dir):
    run_id = submit(_plan(tiny_model_dir, data_dir, max_steps=16, save_steps=4, eval_split="none"))
    run_dir = status(run_id).run_dir
    ckpt = os.path.join(run_dir, "checkpoints", "checkpoint-4", "trainer_state.json")
    _wait_for(lambda: os.path.exists(ckpt), what="the first checkpoint")
    os.killpg(status(run_id).pid, signal.SIGKILL)

    _wait_for(lambda: status(run_id).status == "failed", timeout_s=10, what="the dead run to show as failed")
    dead = status(run_id)
    assert dead.resumable and "stopped unexpectedly" in dead.error
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as fh:  # L3: a line torn by the kill (or a full disk)
        fh.write('{"step": 99, "lo')

    resume(run_id)
    assert status(run_id).step == 4, "a resumed run's progress restarts at its checkpoint, not where it was killed"
    _wait_for(lambda: status(run_id).step > 4, what="the resumed run to train")
    stopped = cancel(run_id, wait_s=120)
    assert stopped.status == "cancelled" and stopped.resumable
    kept = os.path.join(run_dir, "checkpoints", f"checkpoint-{stopped.step}", "trainer_state.json")
    assert os.path.exists(kept), "graceful cancel keeps a checkpoint of the step it stopped at"

    resume(run_id)
    done = wait(run_id, timeout_s=180)
    assert done.status == "completed" and done.step == 16 and done.output_dir.endswith("adapter")
    log = open(os.path.join(run_dir, "stdout.log")).read()
    assert "resuming from checkpoint-4" in log and f"resuming from checkpoint-{stopped.step}" in log
    steps = [r["step"] for r in read_metrics(run_id) if r["loss"] is not None]
    assert steps == list(range(1, 17)), "each step is logged once across the three processes"


def test_a_run_cancelled_before_it_trains_shows_the_step_of_the_checkpoint_it_keeps(data_dir, tmp_path):
    # A cancel during the resumed process's startup: the registry still holds the step the killed
    # attempt reached (7), but what is kept, and what a resume continues from, is checkpoint-4.
    from tools.train.callbacks import CancelRequest
    from tools.train.runner import run

    folder = RunDir(tmp_path / "r1")  # the run id is the folder's name when run.json names none
    folder.path.mkdir()
    _plan("unused-model", data_dir).to_yaml(folder.plan_file)
    for step, finished in ((4, True), (8, False)):  # checkpoint-8 was half written when the process died
        ckpt = folder.checkpoints / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        if finished:
            (ckpt / "trainer_state.json").write_text("{}")
    runs.upsert("r1", run_dir=str(folder.path), status="starting", step=7, total_steps=16)
    cancel = CancelRequest(folder.path)
    cancel.signalled = True

    assert run(folder.path, cancel=cancel, chain=False) == "cancelled"
    assert (runs.get("r1")["status"], runs.get("r1")["step"]) == ("cancelled", 4)
    assert folder.info()["checkpoint"].endswith("checkpoint-4")


def test_a_run_whose_process_died_is_failed_and_resumable_never_running_forever(data_dir, tmp_path):
    run_dir = tmp_path / "orphan"
    run_dir.mkdir()
    _training("default", data_dir).to_yaml(run_dir / "plan.yaml")
    finished = subprocess.Popen(["true"])
    finished.wait()
    runs.upsert("orphan", run_dir=str(run_dir), status="running", pid=finished.pid, pid_start="1")
    zombie = subprocess.Popen(["true"])  # exits at once; nobody reaps it
    _wait_for(lambda: procs.process_start_time(zombie.pid) is None, timeout_s=10, what="the zombie")
    runs.upsert("zombie", run_dir=str(run_dir), status="running", pid=zombie.pid, pid_start=None)
    try:
        for run_id in ("orphan", "zombie"):
            info = status(run_id)
            assert (info.status, info.resumable) == ("failed", True)
            assert runs.get(run_id)["status"] == "failed"  # persisted, not only reported
        assert {r.run_id for r in list_runs()} == {"orphan", "zombie"}
    finally:
        zombie.wait()


def test_submit_refuses_unprepared_data_and_reused_folders_and_stores_nothing(tiny_model_dir, data_dir, tmp_path):
    with pytest.raises(PlanError, match="holds no prepared dataset"):
        submit(_plan(tiny_model_dir, tmp_path / "nothing"))
    used = tmp_path / "used"
    used.mkdir()
    (used / "plan.yaml").write_text("x")
    with pytest.raises(RunError, match="already holds a run"):
        submit(_plan(tiny_model_dir, data_dir, output_dir=str(used)))
    with pytest.raises(RunError, match="no run"):
        resume("missing")
    assert list_runs() == []


def test_two_process_accelerate_launch_on_cpu_completes(tiny_model_dir, data_dir):
    run_id = submit(_plan(tiny_model_dir, data_dir, max_steps=2, save_steps=100, eval_split="none", num_processes=2))
    done = wait(run_id, timeout_s=300)
    assert done.status == "completed", open(os.path.join(done.run_dir, "stdout.log")).read()[-3000:]
    config = yaml.safe_load(open(os.path.join(done.run_dir, "accelerate_config.yaml")))
    assert config["num_processes"] == 2
    # Two processes with 2 rows each consume 4 of the 8 training rows per step: half an epoch.
    first = next(r for r in read_metrics(run_id) if r["loss"] is not None)
    assert first["epoch"] == pytest.approx(0.5)
    assert os.path.isfile(os.path.join(done.output_dir, "adapter_model.safetensors"))
