"""The training queue: one run at a time; a second approved plan waits, visibly, and starts when the first ends."""

import pytest

from tools.train import jobs
from tools.data import DataSpec, prepare_data
from tools.quickstart.demo import demo_dataset_path
from tools.train.launch import status, wait
from tools.train.plan import TrainingPlan


@pytest.fixture
def plan(tiny_model_dir, tmp_path):
    data = tmp_path / "prepared"
    prepare_data(demo_dataset_path(), data, DataSpec(model=str(tiny_model_dir), max_length=64))
    return TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(data), max_steps=2, batch_size=2,
                        max_length=64, eval_split="none", save_steps=100)


def test_second_run_waits_in_the_queue_until_the_first_ends(plan):
    first = jobs.submit(plan)
    second = jobs.submit(plan)

    assert status(first).status in ("starting", "running")
    assert status(second).status == "queued"
    assert jobs.queue_position(second) == 1
    assert jobs.start_next() is None, "nothing may start while a run trains"

    assert wait(first, timeout_s=180).status == "completed"
    assert jobs.start_next() == second
    assert jobs.queue_position(second) is None
    assert wait(second, timeout_s=180).status == "completed"


def test_a_queued_run_can_be_taken_out_before_it_starts(plan):
    first = jobs.submit(plan)
    second = jobs.submit(plan)
    assert jobs.cancel_queued(second)
    assert status(second).status == "cancelled"
    assert not jobs.cancel_queued(first), "a running run is cancelled with a checkpoint, not dequeued"
    wait(first, timeout_s=180)
    assert jobs.start_next() is None


def test_resume_waits_for_the_machine_to_be_free(plan):
    from tools.train.launch import RunError, cancel

    first = jobs.submit(plan.model_copy(update={"max_steps": 30}))
    assert cancel(first, wait_s=120).status == "cancelled"  # it sees the cancel flag at its first step
    second = jobs.submit(plan)
    with pytest.raises(RunError, match="another run is training"):
        jobs.resume(first)
    assert wait(second, timeout_s=180).status == "completed"
    assert jobs.resume(first) == first
    assert wait(first, timeout_s=180).status == "completed"
