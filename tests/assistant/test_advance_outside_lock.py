"""M7: the follow-up of a finished run (read its evaluation, answer one held-out prompt with both models) no
longer holds the conversation's lock while the models generate. The user's chat answers meanwhile, and the
results are written into the conversation, under the lock, once the comparison ends."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path

from assistant import Assistant
from assistant.actions import Actions
from tools.train import jobs
from tools.train.run_dir import RunDir

REPO = Path(__file__).resolve().parents[2]
IDENTITY = str(REPO / "tools" / "demo" / "identity_ada.jsonl")
GOAL = "Teach it a new identity: when someone asks who it is, it says it is Ada from Lumen. CPU only. just recommend"
QUICK = "2 max steps, max length 128, evaluate on 4 examples with 8 new tokens, no probe"


class _SlowEngine:
    """The app's shared engine, standing in for minutes of CPU generation: answers wait for the test's go."""

    kind, fallback_reason = "fake", None

    def __init__(self):
        self.served = {"base": "base"}
        self.asked, self.go = threading.Event(), threading.Event()

    def models(self) -> dict[str, str]:
        return dict(self.served)

    def stream(self, model, messages, sampling):
        self.asked.set()
        assert self.go.wait(120)
        yield f"{model} says hello"

    def engines(self, base: str, tuned: dict[str, str]):
        """What `Actions(engines=...)` calls: this engine, with the run's model added, held for the block."""
        self.served.update(tuned)
        return nullcontext(self)


def test_the_users_chat_answers_while_the_follow_up_compares_and_the_results_follow(app_home, tiny_model_dir):
    engine = _SlowEngine()
    bot = Assistant(llm=None, actions=Actions(engines=engine.engines))
    followed, answered = [], []
    follow_up = threading.Thread(target=lambda: followed.append(bot.advance("t")), daemon=True)
    try:
        bot.send("t", GOAL, files=[IDENTITY])
        bot.edit("t", f"use model {tiny_model_dir}")
        bot.edit("t", QUICK)
        run_id = bot.approve("t").run_id
        done = jobs.wait(run_id, timeout_s=900)
        assert done.status == "completed", RunDir(done.run_dir).log_tail(40)

        follow_up.start()  # what the app's monitor tick starts once it sees the run finished
        assert engine.asked.wait(60), "the follow-up reached the side-by-side"
        chat = threading.Thread(target=lambda: answered.append(bot.send("t", "how is it going?")), daemon=True)
        chat.start()
        chat.join(60)
        assert answered, "the user's message waited for the follow-up's comparison"
        turn = answered[0]
        assert "answering a held-out prompt with the base and the tuned model now" in turn.reply, turn.reply
        assert turn.phase == "training" and not followed, "the results are the follow-up's to write"
    finally:
        engine.go.set()
        follow_up.join(120)
        bot.close()
    [results] = followed
    tuned = Path(jobs.status(run_id).output_dir).parent.name
    assert f"**Tuned:** {tuned} says hello" in results.reply and "**Round 1:" in results.reply, results.reply
    assert [c["tool"] for c in bot.actions.calls].count("compare_models") == 1, "compared once, not again under the lock"
    assert "compare_models" in [c["tool"] for c in results.tools_called]
