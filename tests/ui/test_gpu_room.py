"""H5 / issue 13 item 6: every start of a queued run goes through the app's GPU room decision.

The app frees or shrinks its comparison engine (vLLM on a GPU) before its queue worker starts a run. A
run can also be started elsewhere: the job that just finished hands the machine over, and `finetune-assistant
train` submits from a terminal. Those processes can't touch the app's engine, so while the app holds GPU
memory (`tools.serve.holds`) they leave the run queued, and the app starts it once it has made room. The
decision itself runs on figures (`make_room`), so all of this is checked on a CPU with a fake engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import procs
from tools.data import DataSpec, prepare_data
from tools.quickstart.demo import demo_dataset_path
from tools.serve import holds
from tools.serve.shared import SharedBackends
from tools.train import jobs, runner, runs
from tools.train.plan import Plan, TrainingPlan
from ui.services import AppConfig, Services


class _GpuEngine:
    """A comparison engine that reserved `gb` of an 80 GB GPU (what VLLMBackend reports)."""

    def __init__(self, gb=36.0, weights=3.0):
        self.gb, self.weights, self.closed = gb, weights, False

    def gpu_footprint(self, total_gb):
        return self.gb, self.weights

    def alive(self):
        return not self.closed

    def close(self):
        self.closed = True

    def models(self):
        return {}


@pytest.fixture
def queued_run(tiny_model_dir, tmp_path):
    data = tmp_path / "prepared"
    prepare_data(demo_dataset_path(), data, DataSpec(model=str(tiny_model_dir), max_length=64))
    plan = Plan(training=TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(data), max_steps=2, batch_size=2,
                                      max_length=64, eval_split="none", save_steps=100), evaluate=False)
    me = os.getpid()  # the machine is busy while the run is submitted, so it waits in the queue
    runs.upsert("holder", run_dir=str(tmp_path / "holder"), status="running", pid=me, pid_start=procs.process_start_time(me))
    run_id = jobs.submit(plan)
    runs.upsert("holder", status="completed")  # the holder's job ended: the next start hands over
    assert jobs.status(run_id).status == "queued"
    yield run_id
    for row in runs.with_status(jobs.ACTIVE + (jobs.QUEUED,)):
        jobs.cancel(row["run_id"], wait_s=60)


def test_a_chained_start_leaves_the_run_to_the_app_which_makes_room_first(queued_run, capsys):
    services = Services(AppConfig(llm="rules"))
    # The GPU is nearly full: the comparison engine holds 36 of 80 GB and nothing else is free.
    services.serving = SharedBackends(opener=lambda *a, **k: _GpuEngine(), memory=lambda: (80.0, 0.0))
    try:
        engine = services.serving.get("default", backend="vllm")
        assert [h["pid"] for h in holds.holders()] == [os.getpid()]

        # What a finished job's process does (and `finetune-assistant train`): the run stays queued.
        runner._hand_over()
        assert "left to the app, which frees GPU memory first" in capsys.readouterr().out
        assert jobs.start_next() is None and jobs.status(queued_run).status == "queued"

        # The app's queue worker: room first (the engine is stopped or shrunk), then the start.
        assert services.move_queue() == queued_run
        assert engine.closed and holds.holders() == []
        assert jobs.status(queued_run).status in jobs.ACTIVE
    finally:
        services.close()


def test_a_hold_of_a_process_that_died_is_ignored(queued_run):
    dead = subprocess.run([sys.executable, "-c",
                           "from tools.serve import holds; holds.record(36.0)"], env=procs.child_env(
                               extra={"FINETUNE_ASSISTANT_HOME": os.environ["FINETUNE_ASSISTANT_HOME"]}),
                          cwd=procs.PROJECT_ROOT, check=True)
    assert dead.returncode == 0
    assert holds.holders() == [], "an app killed with its engine holds nothing any more"
    assert jobs.start_next() == queued_run


def test_resume_from_a_terminal_is_refused_while_the_app_holds_the_gpu(tmp_path):
    folder = tmp_path / "stopped"
    folder.mkdir()
    (folder / "plan.yaml").write_text("training: {}\n")  # a run that started once and was cancelled
    runs.upsert("stopped", run_dir=str(folder), status="cancelled")
    holds.record(36.0)
    try:
        with pytest.raises(jobs.RunError, match="comparison engine holds GPU memory"):
            jobs.resume("stopped")
        assert runs.get("stopped")["status"] == "cancelled", "nothing was started"
    finally:
        holds.release()


class _EchoEngine(_GpuEngine):
    """A GPU engine that answers with the model's name: enough for a comparison's plumbing."""

    def __init__(self, adapters):
        super().__init__()
        self.served = {"base": "the base", **{n: str(Path(p).resolve()) for n, p in adapters.items()}}

    def models(self):
        return dict(self.served)

    def add_adapter(self, name, path):
        self.served[name] = str(Path(path).resolve())

    def stream(self, model, messages, sampling):
        yield f"{model} answers"


def test_the_assistants_follow_up_compares_on_the_apps_shared_engine(tmp_path):
    """H5/M7: the side-by-side after a run used to load its own copy of both models in the app, beside the
    Compare tab's, where the queue's room decision could not see it."""
    adapter = tmp_path / "runs" / "r1" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    opened = []
    services = Services(AppConfig(llm="rules"))
    services.serving = SharedBackends(opener=lambda base, adapters, *a: opened.append(_EchoEngine(adapters)) or opened[-1],
                                      memory=lambda: (80.0, 40.0))
    try:
        result = services.assistant.actions.compare_models("default", str(adapter), "Is the shop open?")
        assert (result["base"], result["tuned"]) == ("base answers", "r1 answers")
        assert len(opened) == 1 and holds.holders(), "one engine, and the queue knows it holds the GPU"
        # The Compare tab asks for the same run: the same engine, nothing loaded again.
        assert services.serving.get("default", {"r1": str(adapter)}, services.config.backend) is opened[0]
        assert len(opened) == 1
    finally:
        services.close()
