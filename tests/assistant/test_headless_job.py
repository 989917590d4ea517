"""An approved plan runs to its evaluation with no browser and no UI: the job evaluates itself, and the
assistant's follow-up narrates the report the job wrote."""

from __future__ import annotations

from assistant import Assistant
from tools.quickstart.demo import demo_dataset_path
from tools.train import jobs
from tools.train.run_dir import RunDir


def test_an_approved_plan_is_evaluated_with_no_browser_open(app_home, tiny_model_dir):
    bot = Assistant(llm=None)
    try:
        bot.send("t", "support bot from our chat logs on a CPU; just recommend", files=[str(demo_dataset_path())])
        bot.edit("t", f"use model {tiny_model_dir}")
        bot.edit("t", "evaluate on 3 examples with answers up to 8 tokens and skip the probe")
        turn = bot.edit("t", "4 max steps")
        assert turn.awaiting_approval
        turn = bot.approve("t")
        assert turn.run_id and "Training started" in turn.reply, turn.reply

        # Nobody polls the chat or a browser: only the job processes work from here.
        done = jobs.wait(turn.run_id, timeout_s=900)
        assert done.status == "completed", RunDir(done.run_dir).log_tail(40)
        run = RunDir(done.run_dir)
        report = run.eval_report()
        assert report is not None and done.evaluated, "the job's last step wrote eval/report.json"
        assert report["examples"] <= 3 and report["probe"] is None, "the evaluation settings edited in words reached the job"
        assert run.eval_markdown_file.is_file() and report["verdict"]

        turn = bot.advance("t")  # what the chat does when it next looks
        # The verdict on the plan's checks (proposed from the data) follows; four updates of a random model
        # miss them, so the next round waits for approval.
        assert "**Round 1: not met.**" in turn.reply and turn.awaiting_approval, turn.reply
        assert report["verdict"] in turn.reply and "Base:" in turn.reply and "Tuned:" in turn.reply
        assert "evaluate_run" not in [c["tool"] for c in turn.tools_called], "the app no longer evaluates"
    finally:
        bot.close()
