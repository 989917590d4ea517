"""Conversation history is bounded (review M4): each thread keeps its last few checkpoints, a long chat still
resumes (its waiting plan can be approved after a restart), and threads idle past the retention are deleted."""

from __future__ import annotations

import sqlite3
import time

from assistant import Assistant
from assistant.retention import KEEP_CHECKPOINTS, checkpoint_time, prune_all
from tools import paths

GOAL = "A support bot for my bike shop from our chat logs, about 2,000 chats, CPU only"


def _count(thread: str) -> int:
    with sqlite3.connect(paths.home() / "conversations.db") as db:
        return db.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (thread,)).fetchone()[0]


def test_a_long_thread_keeps_a_bounded_history_and_still_resumes_after_a_restart(app_home):
    bot = Assistant(llm=None)
    bot.send("t", GOAL)
    turn = bot.send("t", "just recommend")
    for words in ("use rank 32", "3 epochs", "use rank 8", "2 epochs", "use rank 16"):
        turn = bot.edit("t", words)
    assert turn.awaiting_approval and turn.plan["training"]["lora_r"] == 16
    assert _count("t") <= KEEP_CHECKPOINTS, "pruned after every turn"
    messages = len(bot.graph.get_state(bot._config("t")).values["messages"])
    bot.close()

    again = Assistant(llm=None)  # the app restarts: the thread and its waiting plan are still there
    state = again.graph.get_state(again._config("t")).values
    assert len(state["messages"]) == messages and again._awaiting(again._config("t"))
    turn = again.edit("t", "use rank 64")
    assert turn.awaiting_approval and turn.plan["training"]["lora_r"] == 64
    again.close()


def test_threads_idle_past_the_retention_are_deleted_and_recent_ones_kept(app_home, monkeypatch):
    bot = Assistant(llm=None)
    bot.send("old", GOAL)
    bot.send("new", GOAL)
    with sqlite3.connect(paths.home() / "conversations.db") as db:
        latest = db.execute("SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = 'old'").fetchone()[0]
    made = checkpoint_time(latest)
    assert made is not None and abs(made - time.time()) < 600, "checkpoint ids carry their time"
    # 200 days on, with the default 180-day retention, both are idle; with 0 (keep all) nothing goes.
    assert prune_all(bot._saver, now=time.time() + 200 * 86_400, idle_days=0)["threads"] == 0
    bot.send("new", "just recommend")
    with sqlite3.connect(paths.home() / "conversations.db") as db:
        newest = checkpoint_time(db.execute("SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = 'new'").fetchone()[0])
    gap = newest - made
    assert gap > 0
    # A day after the newest turn, with a retention that ends between the two threads' last turns.
    removed = prune_all(bot._saver, now=newest + 86_400, idle_days=(86_400 + gap / 2) / 86_400)
    assert removed["threads"] == 1 and _count("old") == 0 and _count("new") > 0
    bot.close()
    monkeypatch.setenv("FINETUNE_ASSISTANT_KEEP_CONVERSATIONS_DAYS", "soon")
    try:
        Assistant(llm=None)
    except ValueError as exc:
        assert "FINETUNE_ASSISTANT_KEEP_CONVERSATIONS_DAYS='soon' is not a number of days" in str(exc)
    else:
        raise AssertionError("a bad retention setting is refused with what to write")
