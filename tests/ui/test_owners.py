"""M2: with logins, each user sees and acts on only their own conversations, uploads, runs, votes and exports.

The callbacks are driven with the request Gradio would pass (`gr.Request.username` comes from the login
cookie). Without logins there is one user, who sees everything, as before.
"""

from __future__ import annotations

import html
import inspect
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio.routes import Request
from gradio.utils import get_type_hints

from tools import paths, procs
from tools.data import DataSpec, prepare_data
from tools.evaluate.compare import Comparison, export_votes, record_vote, votes, win_rate
from tools.quickstart.demo import demo_dataset_path
from tools.train import jobs, runs
from tools.train.plan import Plan, TrainingPlan
from ui import sessions
from ui.app import build_app
from ui.callbacks import Callbacks
from ui.services import AppConfig, Services, store_upload

ANN, BOB = SimpleNamespace(username="ann"), SimpleNamespace(username="bob")
CHAT_ROW = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


@pytest.fixture
def cb():
    callbacks = Callbacks(Services(AppConfig(llm="rules")))
    yield callbacks
    callbacks.s.close()


def _run(run_id: str, owner: str | None) -> None:
    folder = paths.runs_dir() / run_id
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text("{}")
    (folder / "README.md").write_text(f"# card of {run_id}\n")
    runs.upsert(run_id, run_dir=str(folder), status="completed", owner=owner)


def _hold_the_machine(tmp_path: Path) -> None:
    """A live process (this test's own) "training": submitted runs wait in the queue."""
    me = os.getpid()
    runs.upsert("holder", run_dir=str(tmp_path / "holder"), status="running", pid=me, pid_start=procs.process_start_time(me))


def _comparison(tuned: str) -> Comparison:
    return Comparison(prompt="p", messages=[{"role": "user", "content": "p"}], base_model="base", tuned_model=tuned,
                      sampling={}, answers={"base": "b", "tuned": "t"}, done=True)


def test_runs_are_listed_and_acted_on_only_by_their_owner(cb):
    _run("ann-run", "ann")
    _run("bob-run", "bob")
    table, picks = cb.runs(request=BOB)
    assert picks["choices"] == ["bob-run"] and "ann-run" not in json.dumps(table, default=str)
    assert cb.tuned_choices(None, request=BOB)["choices"] == ["bob-run"]
    assert cb.run_choices(None, request=BOB)["choices"] == ["bob-run"]
    # Another user's run id answers exactly like a run that does not exist: no card, no zip, no cancel.
    for answer in (cb.run_details("ann-run", request=BOB)[0], cb.zip_run("ann-run", request=BOB)[0],
                   cb.cancel("ann-run", request=BOB), cb.resume("ann-run", request=BOB),
                   cb.monitor("ann-run", None, "", [], request=BOB)[0], cb.export("ann-run", request=BOB)[0],
                   list(cb.ask("ann-run", "hi", True, request=BOB))[-1][2]):
        assert "no run 'ann-run'" in html.unescape(answer), answer
    assert cb.run_details("ann-run", request=ANN)[0].startswith("# card of ann-run")
    # Without logins there is one user, who sees every run.
    assert sorted(cb.runs()[1]["choices"]) == ["ann-run", "bob-run"]


def test_votes_tallies_and_exports_are_the_voters_own(cb, tmp_path):
    for owner in ("ann", "ann", "bob"):
        record_vote(_comparison("r1"), "B", owner=owner)  # B is the tuned answer: a win
    assert win_rate("r1", owner="bob").votes == 1 and win_rate("r1", owner="ann").votes == 2
    assert win_rate("r1").votes == 3, "no login: every vote counts"
    assert [v["owner"] for v in votes(owner="bob")] == ["bob"]
    assert export_votes(tmp_path / "bob.jsonl", owner="bob").rows == 1
    # Through the Compare tab: the vote is recorded as the logged-in user's, the tally and export are theirs.
    message, rate, *_ = cb.vote_for("A")(_comparison("r1"), request=BOB)
    assert "Vote recorded" in message and "of 2 votes" in rate
    text, file = cb.export(None, request=BOB)
    assert "Exported 2 preference pairs" in text and file, "bob's two votes, not ann's"
    exported = Path(text.split("`")[1])
    assert exported.parent.name == paths.uploads_dir("bob").name, "each user's exports in their own folder"


def test_a_conversation_id_of_one_user_is_not_valid_for_another(cb):
    ann_session = cb.restore(None, request=ANN)[0]
    assert sessions.thread_of(ann_session, "ann") and sessions.thread_of(ann_session, "bob") is None
    bob_session = cb.restore(ann_session, request=BOB)[0]
    assert bob_session != ann_session, "bob presenting ann's id gets a conversation of his own"
    reply = list(cb.chat({"text": "hi", "files": []}, [], ann_session, request=BOB))[-1][0][-1]["content"]
    assert "not issued by this app" in reply


def test_uploads_live_in_the_users_folder_and_typed_paths_stay_inside_it(cb, tmp_path, smollm2_dir):
    (paths.models_dir() / smollm2_dir.name).symlink_to(smollm2_dir)  # the default model, converted once per session
    upload = tmp_path / "gradio" / "chats.jsonl"
    upload.parent.mkdir()
    upload.write_text(CHAT_ROW * 40)
    anns = Path(store_upload(str(upload), "ann"))
    assert anns.parent.parent == paths.uploads_dir("ann") != paths.uploads_dir("bob")
    bot = cb.s.assistant
    # Bob names Ann's upload (a leaked path) and approves: refused before anything reads it.
    first = bot.send("b", f"A support bot from 800 chat logs in {anns}, CPU only. just recommend", user="bob")
    assert first.awaiting_approval, first.reply
    turn = bot.approve("b", user="bob")
    assert "outside your own uploads" in turn.reply and turn.awaiting_approval
    assert bot.actions.calls == []
    # His own upload of the same file is his, and passes the check (the preparation runs).
    bobs = Path(store_upload(str(upload), "bob"))
    assert bobs != anns and bobs.read_text() == anns.read_text()
    _hold_the_machine(tmp_path)  # so the approved run waits in the queue instead of training here
    bot.send("b2", f"A support bot from 800 chat logs in {bobs}, CPU only. just recommend", user="bob")
    turn = bot.approve("b2", user="bob")
    assert [c["tool"] for c in bot.actions.calls] == ["prepare_data", "estimate_plan", "launch_training"], turn.reply
    assert jobs.status(turn.run_id, "bob").status == "queued" and jobs.list_runs("ann") == []
    jobs.cancel(turn.run_id, owner="bob")


def test_a_submitted_run_is_its_owners(tmp_path, tiny_model_dir):
    data = tmp_path / "prepared"
    prepare_data(demo_dataset_path(), data, DataSpec(model=str(tiny_model_dir), max_length=64))
    _hold_the_machine(tmp_path)
    plan = Plan(training=TrainingPlan(base_model=str(tiny_model_dir), data_dir=str(data), max_steps=2), evaluate=False)
    run_id = jobs.submit(plan, owner="ann")
    assert jobs.status(run_id, "ann").owner == "ann" and [r.run_id for r in jobs.list_runs("bob")] == []
    with pytest.raises(jobs.RunError, match="no run"):
        jobs.cancel(run_id, owner="bob")
    assert jobs.cancel(run_id, owner="ann").status == "cancelled"


def test_gradio_hands_the_request_to_every_callback_that_takes_one():
    """A callback wired through functools.partial would never see the login (Gradio ignores its annotations)."""
    demo = build_app(Services(AppConfig(llm="rules")))
    wired = [f.fn for f in demo.fns.values() if f.fn is not None]
    takes = [fn for fn in wired if "request" in inspect.signature(fn).parameters]
    assert len(takes) >= 15, [getattr(fn, "__name__", fn) for fn in takes]
    for fn in takes:
        assert get_type_hints(fn).get("request") in (Request, Request | None), fn
