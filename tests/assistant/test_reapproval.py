"""M9 / issue 13 item 5: a re-approved plan never rewrites a prepared dataset that an earlier or queued run uses.

The chat used to prepare into `datasets/<name>-<hash of thread and file path>`, so approving again in the
same conversation (after "20% validation", or with a corrected file of the same name) replaced the folder
under the first run. Each preparation now has a folder named by the file's content and the data settings.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from assistant import Assistant
from tools import paths, procs
from tools.quickstart.demo import demo_dataset_path
from tools.train import jobs, runs


@pytest.fixture
def bot(app_home, tmp_path):
    me = os.getpid()  # a live process "training": approved runs wait in the queue instead of training here
    runs.upsert("holder", run_dir=str(tmp_path / "holder"), status="running", pid=me, pid_start=procs.process_start_time(me))
    assistant = Assistant(llm=None)
    yield assistant
    assistant.close()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.jsonl"))}


def _approved(bot: Assistant, thread: str, source: Path, model: Path, *edits: str) -> tuple[str, Path]:
    bot.send(thread, f"A support bot from 800 chat logs in {source}, CPU only. just recommend")
    bot.edit(thread, f"use model {model}")
    for edit in edits:
        assert "Updated" in bot.edit(thread, edit).reply
    turn = bot.approve(thread)
    assert turn.run_id, turn.reply
    return turn.run_id, Path(jobs.queued_plan(turn.run_id).training.data_dir)


def test_approving_again_never_rewrites_the_data_a_queued_run_uses(bot, tmp_path, tiny_model_dir):
    source = tmp_path / "chats.jsonl"
    source.write_text(demo_dataset_path().read_text())
    first_run, first = _approved(bot, "t", source, tiny_model_dir)
    before = _digests(first)
    assert first.parent == paths.datasets_dir() and before
    assert bot.send("t", "how is it going?").phase == "training", "a queued run is waiting, not failed"

    # Another conversation, the same file with other settings: another folder; the queued run's is untouched.
    second_run, second = _approved(bot, "u", source, tiny_model_dir, "use 30% validation")
    assert second != first and _digests(first) == before
    assert Path(jobs.queued_plan(first_run).training.data_dir) == first

    # The first conversation again, once its run was cancelled, with those settings: the second folder is
    # reused as it is (not written again), and the first is still what it was.
    jobs.cancel(first_run)
    assert bot.send("t", "how is it going?").phase == "failed"
    inode = (second / "train.jsonl").stat().st_ino
    third_run, third = _approved(bot, "t", source, tiny_model_dir, "use 30% validation")
    assert third == second and (second / "train.jsonl").stat().st_ino == inode and _digests(first) == before

    # A corrected file under the same name: a folder of its own.
    source.write_text("".join(demo_dataset_path().read_text().splitlines(keepends=True)[:-5]))
    fourth_run, fourth = _approved(bot, "w", source, tiny_model_dir)
    assert fourth not in (first, second) and _digests(first) == before
    for run_id in (second_run, third_run, fourth_run):
        jobs.cancel(run_id)
