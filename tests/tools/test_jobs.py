"""The training queue: one run at a time; a second approved plan waits, visibly, and starts when the first ends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tools import paths, procs, store
from tools.data import DataSpec, prepare_data
from tools.quickstart.demo import demo_dataset_path
from tools.train import jobs, runs
from tools.train.jobs import status, wait
from tools.train.plan import Plan, TrainingPlan
from tools.train.run_dir import RunDir


@pytest.fixture
def plan(tiny_model_dir, tmp_path):
    data = tmp_path / "prepared"
    prepare_data(demo_dataset_path(), data, DataSpec(model=str(tiny_model_dir), max_length=64))
    training = TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(data), max_steps=2, batch_size=2,
                            max_length=64, eval_split="none", save_steps=100)
    return Plan(training=training, evaluate=False)


def _hold_the_machine(tmp_path) -> None:
    """A row of a live process (this test's own) that says it is training."""
    me = os.getpid()
    runs.upsert("holder", run_dir=str(tmp_path / "holder"), status="running", pid=me, pid_start=procs.process_start_time(me))


def _queued_plans() -> list[str]:
    with store.connect() as db:
        return [r[0] for r in db.execute("SELECT run_id FROM queue_plans")]


def test_a_starter_that_crashes_after_claiming_a_job_loses_nothing(plan, tmp_path, monkeypatch):
    """L2: the plan is stored before anything else and removed only after the spawn."""
    _hold_the_machine(tmp_path)
    run_id = jobs.submit(plan)
    assert status(run_id).status == "queued" and _queued_plans() == [run_id]
    runs.upsert("holder", status="completed")
    crash = "import os; from tools.train import jobs, launch; launch.spawn = lambda *a: os._exit(9); jobs.start_next()"
    assert subprocess.run([sys.executable, "-c", crash]).returncode == 9
    assert runs.get(run_id)["status"] == "starting" and _queued_plans() == [run_id], "claimed, plan kept"
    assert jobs.start_next() is None, "inside the grace window the claim stands: no second start"

    monkeypatch.setattr(runs, "START_GRACE_S", 0.0)
    assert jobs.start_next() == run_id, "a claim whose starter died goes back to the queue and starts"
    assert _queued_plans() == []
    assert wait(run_id, timeout_s=300).status == "completed"


def test_a_starter_killed_while_writing_the_plan_leaves_a_temp_file_that_does_not_block_the_retry(plan, tmp_path):
    # What CI hit once: the kill landed inside plan.yaml's atomic write, so the folder held only
    # `.plan.yaml.tmp-*`, and the recovering start refused it as "exists and is not empty".
    from tools.train import launch

    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    (run.path / ".plan.yaml.tmp-k1ll3d").write_text("training:\n  base_mo")
    launch.check(plan, run, "r")  # no error: the retry starts the job there (and launch removes the temp file)

    other = RunDir(tmp_path / "other")
    other.path.mkdir()
    (other.path / "notes.txt").write_text("the user's own file")
    with pytest.raises(runs.RunError, match="exists and is not empty"):
        launch.check(plan, other, "other")


def test_kill_9_of_the_starter_during_a_start_loses_nothing_and_starts_the_job_once(plan, tmp_path, monkeypatch):
    """Item 8: the app (here a process calling start_next) SIGKILLed while it starts a queued job, wherever in
    the start the signal lands: no half-written file, the job is not lost, and it trains exactly once."""
    _hold_the_machine(tmp_path)
    run_id = jobs.submit(plan)
    runs.upsert("holder", status="completed")
    starter = subprocess.Popen([sys.executable, "-c", "import time; from tools.train import jobs; jobs.start_next(); "
                                "time.sleep(120)"])
    deadline = time.time() + 120
    while runs.get(run_id)["status"] == "queued":  # claimed: the start is under way
        assert starter.poll() is None and time.time() < deadline
        time.sleep(0.002)
    starter.send_signal(signal.SIGKILL)
    starter.wait(10)

    folder = RunDir(runs.get(run_id)["run_dir"])
    for name in ("plan.yaml", "run.json"):  # each file there is whole: the old version or the new one
        if (folder.path / name).exists():
            folder.plan() if name == "plan.yaml" else json.loads((folder.path / name).read_text())
    assert _queued_plans() == [run_id] or procs.processes_running("tools.train", str(folder.path)), "lost"

    monkeypatch.setattr(runs, "START_GRACE_S", 0.0)
    jobs.start_next()  # recovers: starts it again if it never spawned, else adopts the process it spawned
    assert wait(run_id, timeout_s=300).status == "completed"
    assert folder.log_tail(400).count("$ ") == 1, "the job trained once"
    assert _queued_plans() == []


def test_a_job_spawned_by_a_starter_killed_before_recording_it_is_adopted_not_started_twice(plan, monkeypatch):
    """The narrowest kill -9 window: the job process exists, its row has no pid yet (as the killed starter
    left them). Its command line names its run folder, so start_next adopts it instead of starting a second
    trainer on the same folder."""
    run_dir = str(paths.runs_dir() / "adopt-me")
    runs.upsert("adopt-me", run_dir=run_dir, status="starting", pid=None, pid_start=None)
    with store.connect() as db:
        db.execute("INSERT INTO queue_plans (run_id, plan_json) VALUES (?, ?)", ("adopt-me", plan.model_dump_json()))
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "tools.train", run_dir])
    try:
        monkeypatch.setattr(runs, "START_GRACE_S", 0.0)
        assert jobs.start_next() is None, "the machine is busy with the adopted job"
        row = runs.get("adopt-me")
        assert (row["status"], row["pid"]) == ("starting", job.pid) and _queued_plans() == []
    finally:
        job.kill()
        job.wait()


# Waiting in the queue behind a training run, the hand-over when it ends, and taking a queued job out before
# it starts are shown end to end, through the `train` command, in tests/tools/test_job_path.py.


def test_resume_waits_for_the_machine_to_be_free(plan):
    first = jobs.submit(plan.model_copy(update={"max_steps": 30}))
    assert jobs.cancel(first, wait_s=120).status == "cancelled"  # it sees the cancel flag at its first step
    second = jobs.submit(plan)
    with pytest.raises(jobs.RunError, match="another run is training"):
        jobs.resume(first)
    assert wait(second, timeout_s=180).status == "completed"
    assert jobs.resume(first) == first
    assert wait(first, timeout_s=180).status == "completed"
