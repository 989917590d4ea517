"""The run folder: one class knows its files; readers survive torn lines and huge logs."""

import json

from tools.train.plan import Plan, TrainingPlan
from tools.train.run_dir import RunDir


def test_metrics_skip_a_torn_last_line_and_an_append_after_it_stays_readable(tmp_path):
    run = RunDir(tmp_path)
    run.append_metric({"step": 1, "loss": 2.0})
    with open(run.metrics_file, "a") as fh:
        fh.write('{"step": 2, "lo')  # a full disk or a power loss cut this line
    assert run.metrics() == [{"step": 1, "loss": 2.0}]
    run.append_metric({"step": 3, "loss": 1.0})
    assert run.metrics() == [{"step": 1, "loss": 2.0}, {"step": 3, "loss": 1.0}], "the torn line must not eat the next"


def test_keeping_metrics_up_to_a_checkpoint_drops_unreadable_lines_and_later_steps(tmp_path):
    run = RunDir(tmp_path)
    run.metrics_file.write_text('{"step": 1, "elapsed": 1.5}\n\x00\x00\x00\n{"step": 2, "elapsed": 3}\n{"step": 3, "lo')
    assert run.keep_metrics_up_to(2) == 3.0
    assert [json.loads(x) for x in run.metrics_file.read_text().splitlines()] == [
        {"step": 1, "elapsed": 1.5}, {"step": 2, "elapsed": 3}]
    assert run.keep_metrics_up_to(None) == 0.0 and not run.metrics_file.exists()


def test_metrics_are_reread_when_the_file_changes(tmp_path):
    run = RunDir(tmp_path)
    run.append_metric({"step": 1})
    assert len(run.metrics()) == 1
    run.append_metric({"step": 2})
    assert [r["step"] for r in run.metrics()] == [1, 2]


def test_log_tail_reads_only_the_end_of_a_big_log(tmp_path):
    run = RunDir(tmp_path)
    with open(run.log_file, "w") as fh:
        fh.write("x" * 5_000_000 + "\n")
        fh.write("".join(f"line {i}\n" for i in range(100)))
        fh.write("progress 10%\rprogress 100%\nValueError: boom\n")
    assert run.log_tail(3) == "line 99\nprogress 100%\nValueError: boom"
    assert run.last_error() == "ValueError: boom"
    assert RunDir(tmp_path / "missing").log_tail() == ""


def test_plan_round_trips_and_an_old_bare_training_plan_loads(tmp_path):
    (tmp_path / "data").mkdir()
    training = TrainingPlan(data_dir=str(tmp_path / "data"), max_steps=3)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_plan(Plan(training=training, evaluate=True))
    assert run.plan().evaluate and run.plan().training.max_steps == 3
    training.to_yaml(run.plan_file)  # what older releases wrote
    assert run.plan().training.max_steps == 3 and not run.plan().evaluate


def test_output_info_and_eval_report(tmp_path):
    run = RunDir(tmp_path)
    assert run.output is None and run.info() == {} and run.eval_report() is None
    run.output_for("lora").mkdir()
    assert run.output == tmp_path / "adapter"
    run.update_info(status="running")
    assert run.update_info(step=3)["status"] == "running"
    run.eval_dir.mkdir()
    run.eval_report_file.write_text('{"verdict": "better"}')
    assert run.eval_report() == {"verdict": "better"}
