"""Gradio callbacks: each calls `assistant/` or `tools/` and formats the result with `ui.views`.

Every callback catches failures and turns them into a message on screen: a user never sees a traceback,
and what they typed or uploaded stays where it was.

With logins (`--auth`), each callback acts for the logged-in user (`gr.Request.username`, which Gradio
fills from the login cookie, never from the request's data): that user's conversations, uploads, runs,
votes and exports only; another user's run id answers as a run that does not exist (M2). Without logins
there is one user, who sees everything. Gradio passes the request to a parameter annotated `gr.Request`
of a plain function or method (not of a `functools.partial`), hence one small method per button.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.narrate import curve_text
from assistant.rounds import rounds_side_by_side
from tools import paths
from tools.data import DataError, inspect_data
from tools.evaluate.compare import compare_stream, export_votes, record_vote, win_rate
from tools.evaluate.replay import replay, test_prompts
from tools.export import bundle
from tools.migrate.golden import OLD, RecordedBackend, recorded_choices, recorded_messages
from tools.migrate.verdict import golden_of, refresh_verdict
from tools.serve.backends import Sampling
from tools.train import jobs
from tools.train.plan import read_report
from tools.train.run_dir import RunDir
from tools.train.runs import FINAL
from tools.vocab import DATA_SUFFIXES
from ui import sessions, views
from ui.services import Services, servable, store_upload

CHAT_FILE_TYPES = list(DATA_SUFFIXES)  # exactly what the data loader reads
BASE_SIDE, OLD_SIDE = "base model", "old model (recorded)"  # what the tuned model is compared with


def new_session(owner: str | None = None) -> str:
    return sessions.issue(owner)


def owner_of(request: gr.Request | None) -> str | None:
    """The logged-in user of this request; None when the app has no logins (one user)."""
    return getattr(request, "username", None) or None


def _friendly(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"⚠️ {text.splitlines()[0][:500]}"


class Callbacks:
    def __init__(self, services: Services):
        self.s = services

    # ---------------------------------------------------------------- chat and plan

    def restore(self, session: str | None, request: gr.Request = None):
        """Page load: keep the browser's conversation (it survives app restarts) or start a new one.

        Only an id this server signed (for this user) is kept; anything else (forged, unsigned, empty,
        another user's) gets a fresh one.
        """
        owner = owner_of(request)
        thread = sessions.thread_of(session, owner)
        if thread is None:
            session = new_session(owner)
            thread = sessions.require(session, owner)
        ready = gr.update(interactive=True)
        try:
            history = [{"role": m["role"], "content": m["content"]} for m in self.s.assistant.history(thread)
                       if m.get("role") in ("user", "assistant") and m.get("content")]
            turn = self.s.assistant.snapshot(thread).model_dump() if history else None
        except Exception as exc:
            return session, [{"role": "assistant", "content": _friendly(exc)}], ready, *self._turn_updates(None)
        return session, history, ready, *self._turn_updates(turn)

    def chat(self, message: dict, history: list[dict], session: str, request: gr.Request = None):
        """Stream the assistant's reply; attached files are stored under the data dir first."""
        text = (message or {}).get("text", "").strip()
        owner = owner_of(request)
        try:
            session = sessions.require(session, owner)
            files = [store_upload(f, owner) for f in (message or {}).get("files", [])]
        except (OSError, ValueError) as exc:  # a full disk, a file too big: say so, keep what the user typed
            yield [*history, {"role": "assistant", "content": _friendly(exc)}], gr.skip(), *self._turn_updates(None)
            return
        if not text and not files:
            yield history, gr.skip(), *self._turn_updates(None)
            return
        shown = text + "".join(f"\n\n📎 `{Path(f).name}`" for f in files)
        history = [*history, {"role": "user", "content": shown}, {"role": "assistant", "content": "…"}]
        yield history, {"text": "", "files": []}, *self._turn_updates(None)
        reply = ""
        try:
            for chunk in self.s.assistant.stream(session, text, files, user=owner):
                reply += chunk
                history[-1] = {"role": "assistant", "content": reply}
                yield history, gr.skip(), *self._turn_updates(None)
            turn = self.s.assistant.last_turn(session)
        except Exception as exc:  # the conversation itself is checkpointed; the user can simply retry
            history[-1] = {"role": "assistant", "content": _friendly(exc)}
            yield history, gr.skip(), *self._turn_updates(None)
            return
        turn_dict = turn.model_dump() if turn else None
        history[-1] = {"role": "assistant", "content": reply or (turn.reply if turn else "")}
        yield history, gr.skip(), *self._turn_updates(turn_dict)

    def decide(self, action: str, history: list[dict], session: str, edit_text: str = "",
               request: gr.Request = None):  # fmt: skip
        """Approve, reject or edit the waiting plan. Approval prepares the data and starts training."""
        bot = self.s.assistant
        owner = owner_of(request)
        thread = sessions.thread_of(session, owner)
        label = {"approve": "✅ Approve", "reject": "✖ Reject", "edit": f"✏️ {edit_text}"}[action]
        history = [*history, {"role": "user", "content": label}, {"role": "assistant", "content": "…"}]
        yield history, *self._turn_updates(None)
        try:
            if thread is None:
                raise sessions.SessionError("This conversation id was not issued by this app; reload the page.")
            if action == "approve":
                turn = bot.approve(thread, user=owner)
            elif action == "reject":
                turn = bot.reject(thread, user=owner)
            else:
                turn = bot.edit(thread, edit_text, user=owner)
        except Exception as exc:
            history[-1] = {"role": "assistant", "content": _friendly(exc)}
            yield history, *self._turn_updates(None)
            return
        history[-1] = {"role": "assistant", "content": turn.reply or "Done."}
        yield history, *self._turn_updates(turn.model_dump())

    # Gradio hands a request only to a parameter of a plain function, so each button gets its own method.
    def approve(self, history: list[dict], session: str, request: gr.Request = None):
        yield from self.decide("approve", history, session, request=request)

    def reject(self, history: list[dict], session: str, request: gr.Request = None):
        yield from self.decide("reject", history, session, request=request)

    def edit(self, history: list[dict], session: str, edit_text: str, request: gr.Request = None):
        yield from self.decide("edit", history, session, edit_text, request=request)

    def _turn_updates(self, turn: dict | None) -> tuple:
        """plan card, approve/reject/edit interactivity, data report panes, the session's run id."""
        if turn is None:
            return (gr.skip(),) * 9
        waiting = bool(turn.get("awaiting_approval"))
        report = _dataset_report(turn.get("dataset"))
        data_updates = (views.data_report(report), views.error_rows(report), views.pii_rows(report),
                        _histogram(turn.get("dataset"))) if report else (gr.skip(),) * 4
        return (views.plan_card(turn), gr.update(interactive=waiting), gr.update(interactive=waiting),
                gr.update(interactive=waiting), *data_updates, turn.get("run_id") or gr.skip())

    # ---------------------------------------------------------------- data tab

    def inspect_upload(self, file: str | None, session: str, request: gr.Request = None):
        if not file:
            return "_Upload a dataset file to inspect it._", [], [], None
        owner = owner_of(request)
        try:
            sessions.require(session, owner)
            stored = store_upload(file, owner)
            report = inspect_data(stored).model_dump(mode="json")
        except DataError as exc:
            return f"⚠️ {exc}", [], [], None
        except Exception as exc:
            return _friendly(exc), [], [], None
        return views.data_report(report), views.error_rows(report), views.pii_rows(report), None

    # ---------------------------------------------------------------- training monitor

    def run_choices(self, current: str | None, request: gr.Request = None):
        ids = [r.run_id for r in jobs.list_runs(owner_of(request))]
        return gr.update(choices=ids, value=current if current in ids else (ids[0] if ids else None))

    def monitor(self, run_id: str | None, own_run: str | None, session: str, history: list[dict],
                request: gr.Request = None):  # fmt: skip
        """Timer tick: progress, loss curve, reading, log tail, and the assistant's notes for this session.

        It only reads: the job evaluates itself and the queue moves without any tab open. A finished run of
        this session gets the assistant's words on it (`Services.follow_up`) once.
        """
        owner = owner_of(request)
        session = sessions.thread_of(session, owner)
        notes = self.s.take_notes(session) if session else []
        chat: Any = [*history, *({"role": "assistant", "content": n} for n in notes)] if notes else gr.skip()
        # A note can bring a next round's plan to approve, or a round started on its own: refresh the card.
        chat = (chat, *self._card_after_notes(session if notes else None))
        if not run_id:
            return views.progress_html(None), gr.skip(), gr.skip(), gr.skip(), *chat
        try:
            st = jobs.status(run_id, owner)
        except Exception as exc:
            return f"<p>{html.escape(_friendly(exc))}</p>", gr.skip(), gr.skip(), gr.skip(), *chat
        if run_id == own_run and st.status in FINAL:
            self.s.follow_up(session, run_id)
        run = RunDir(st.run_dir)
        metrics = run.metrics()
        points = views.loss_points(metrics)
        return (views.progress_html(st.model_dump(), jobs.queue_position(run_id)),
                _plot_frame(points) if points else gr.skip(),
                curve_text(metrics) or "Waiting for the first logged steps…",
                run.log_tail(30), *chat)

    def _card_after_notes(self, session: str | None) -> tuple:
        """plan card, approve/reject/edit, the session's run id: from the conversation, once notes arrived."""
        if session is None:
            return (gr.skip(),) * 5
        try:
            turn = self.s.assistant.snapshot(session).model_dump()
        except Exception:  # the notes are shown all the same; the card refreshes with the next chat turn
            return (gr.skip(),) * 5
        updates = self._turn_updates(turn)
        return (*updates[:4], updates[-1])

    def cancel(self, run_id: str | None, request: gr.Request = None) -> str:
        if not run_id:
            return "No run selected."
        try:
            st = jobs.cancel(run_id, owner=owner_of(request))
        except Exception as exc:
            return _friendly(exc)
        if st.status == "cancelled" and not RunDir(st.run_dir).holds_run():
            return f"Removed {run_id} from the queue; it never started."
        return f"Cancelling {run_id}: it stops after the current step and keeps its last checkpoint ({st.phase})."

    def resume(self, run_id: str | None, request: gr.Request = None) -> str:
        if not run_id:
            return "No run selected."
        try:
            self.s.resume(run_id, owner=owner_of(request))
        except Exception as exc:
            return _friendly(exc)
        return f"Resuming {run_id} from its last checkpoint."

    # ---------------------------------------------------------------- compare

    def tuned_choices(self, current: str | None, request: gr.Request = None):
        ids = [r.run_id for r in jobs.list_runs(owner_of(request)) if r.status == "completed" and r.output_dir]
        return gr.update(choices=ids, value=current if current in ids else (ids[0] if ids else None))

    def opponents(self, run_id: str | None, current: str | None):
        """Offer "old model (recorded)" beside the base when the run was compared with a hosted fine-tune's
        recorded answers; the old model answers only those prompts, so picking it shows their list."""
        golden = self._golden(run_id)
        if not golden:
            return gr.update(visible=False, value=BASE_SIDE), gr.update(visible=False, choices=[], value=None)
        return gr.update(visible=True, value=current or BASE_SIDE), self.recorded_list(run_id, current)

    def recorded_list(self, run_id: str | None, opponent: str | None):
        """The recorded prompts to pick from, shown only while the old model is the other side."""
        golden = self._golden(run_id) if opponent == OLD_SIDE else None
        return gr.update(visible=bool(golden), choices=recorded_choices(golden) if golden else [], value=None)

    def recorded_prompt(self, run_id: str | None, prompt_id: str | None):
        """The picked recorded prompt's question, shown in the prompt box."""
        golden = self._golden(run_id)
        if not golden or not prompt_id:
            return gr.skip()
        messages = recorded_messages(golden, prompt_id)
        return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")

    def _golden(self, run_id: str | None) -> str | None:
        try:
            return golden_of(jobs.status(run_id).run_dir) if run_id else None
        except Exception:  # an unknown or half-written run simply offers no old model
            return None

    def ask(self, run_id: str | None, prompt: str, blind: bool, opponent: str | None = BASE_SIDE,
            recorded: str | None = None, request: gr.Request = None):  # fmt: skip
        """Stream both answers side by side: (A, B, notice, comparison state, 4 vote-button updates)."""
        def out(a, b, message, comp=None, voting=False):
            return (a, b, message, comp, *[gr.update(interactive=voting)] * 4)

        if not run_id:
            yield out("", "", "⚠️ Pick a finished run to compare with its base model.")
            return
        against_old = opponent == OLD_SIDE
        if against_old and not recorded:
            yield out("", "", "⚠️ Pick one of the recorded prompts: the old model can't be asked anything new.")
            return
        if not against_old and not (prompt or "").strip():
            yield out("", "", "⚠️ Type a prompt for both models.")
            return
        comp = None
        try:
            st = jobs.status(run_id, owner_of(request))
            yield out("", "", "Loading the base and tuned models…")
            # Held while both answers stream: the pool evicts idle engines and adapters only (M7).
            with self.s.serving.use(st.base_model or "default", {run_id: st.output_dir or ""},
                                    self.s.config.backend) as backend:  # fmt: skip
                notice = backend.fallback_reason or f"Served by {backend.kind}."
                base, messages = "base", None
                if against_old:
                    golden = self._golden(run_id)
                    if golden is None:
                        raise ValueError(f"{run_id} was not compared with an old model's recorded answers; compare it with its base.")
                    backend, base, messages = RecordedBackend(backend, golden), OLD, recorded_messages(golden, recorded)
                    prompt = self.recorded_prompt(run_id, recorded)
                    notice += " The other side is the old model's recorded answer."
                sampling = Sampling(max_tokens=self.s.config.max_new_tokens)
                for comp in compare_stream(backend, prompt, tuned=run_id, base=base, sampling=sampling, blind=blind,
                                           messages=messages):  # fmt: skip
                    yield out(comp.answer_a, comp.answer_b, notice)
        except Exception as exc:
            yield out(gr.skip(), gr.skip(), _friendly(exc))
            return
        yield out(comp.answer_a, comp.answer_b, notice, comp, voting=True)

    def replay(self, run_id: str | None, request: gr.Request = None):
        """Fill the prompt list from the run's locked test split, then answer each with base and tuned, scored
        by the run's checks: (prompt list, table rows, notice), streamed row by row."""
        if not run_id:
            yield "", [], "⚠️ Pick a finished run: its test prompts are replayed."
            return
        rows: list[dict] = []
        try:
            st = jobs.status(run_id, owner_of(request))
            prompts = [next((m["content"] for m in reversed(msgs) if m["role"] == "user"), "")
                       for msgs, _ in test_prompts(st.run_dir)]  # fmt: skip
            listed = "\n".join(" ".join(p.split())[:300] for p in prompts)
            yield listed, [], f"Loading the base and tuned models to replay {len(prompts)} test prompts…"
            with self.s.serving.use(st.base_model or "default", {run_id: st.output_dir or ""},
                                    self.s.config.backend) as backend:  # fmt: skip
                for rows in replay(backend, st.run_dir, tuned=run_id):
                    yield gr.skip(), views.replay_rows(rows), f"Answered {len(rows)} of {len(prompts)}…"
        except Exception as exc:
            yield gr.skip(), views.replay_rows(rows) if rows else gr.skip(), _friendly(exc)
            return
        yield gr.skip(), views.replay_rows(rows), views.replay_summary(rows)

    def vote(self, choice: str, comp: Any, request: gr.Request = None):
        spent = (gr.update(interactive=False),) * 4
        if comp is None:
            return "⚠️ Ask a prompt first; a vote needs both answers.", gr.skip(), None, *spent
        owner = owner_of(request)
        try:
            record_vote(comp, choice, owner=owner)
            sentence = win_rate(tuned_model=comp.tuned_model, base_model=comp.base_model, owner=owner).sentence()
            if comp.base_model == OLD:  # the migration's sentence, with this vote in it (and in the report)
                sentence = refresh_verdict(jobs.status(comp.tuned_model, owner).run_dir, comp.tuned_model) or sentence
        except Exception as exc:
            return _friendly(exc), gr.skip(), comp, *(gr.skip(),) * 4
        tuned_side = "A" if comp.order[0] == "tuned" else "B"
        other = " The other was the old model's recorded answer." if comp.base_model == OLD else ""
        reveal = f"Vote recorded. **{tuned_side}** was the tuned model ({comp.tuned_model}).{other}"
        # The comparison is spent: one vote per prompt keeps the tally honest.
        return reveal, sentence, None, *spent

    def vote_for(self, choice: str):
        """The click handler of one vote button."""
        def vote(comp: Any, request: gr.Request = None):
            return self.vote(choice, comp, request)

        return vote

    def export(self, run_id: str | None, request: gr.Request = None):
        """The votes on one run's comparisons (all runs' when none is picked) as DPO preference data."""
        owner = owner_of(request)
        try:
            if run_id:
                jobs.status(run_id, owner)  # another user's run id answers "no run"
            target = _exports_dir(owner) / f"votes-{run_id or 'all'}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
            result = export_votes(target, tuned_model=run_id or None, owner=owner)
        except Exception as exc:
            return _friendly(exc), None
        return (f"Exported {result.rows} preference pairs ({result.skipped} skipped) to `{result.path}`: "
                "ready for DPO.", servable(result.path))

    # ---------------------------------------------------------------- runs

    def runs(self, request: gr.Request = None):
        rows = [r.model_dump() for r in jobs.list_runs(owner_of(request))]
        return views.runs_table(rows), gr.update(choices=[r["run_id"] for r in rows])

    def rounds(self, run_id: str | None, request: gr.Request = None):
        """The rounds of the goal the run belongs to, side by side (table rows, a note)."""
        if not run_id:
            return [], ""
        try:
            jobs.status(run_id, owner_of(request))  # another user's run id answers "no run"
            rows = views.rounds_rows(rounds_side_by_side(run_id))
        except Exception as exc:
            return [], _friendly(exc)
        return rows, "" if rows else f"Run `{run_id}` was not judged against success checks, so it has no rounds."

    def run_details(self, run_id: str | None, request: gr.Request = None):
        if not run_id:
            return "", ""
        try:
            run = RunDir(jobs.status(run_id, owner_of(request)).run_dir)
        except Exception as exc:
            return _friendly(exc), ""
        return (run.card() or "_No model card yet (the run has not finished)._",
                run.eval_markdown() or "_Not evaluated yet._")

    def run_action(self, action: str, run_id: str | None, repo: str = "", token: str = "",
                   request: gr.Request = None):  # fmt: skip
        """zip / merge / push one run. Returns (message, file to download or None). The token is never echoed."""
        if not run_id:
            return "Pick a run first.", None
        try:
            run_dir = jobs.status(run_id, owner_of(request)).run_dir
            if action == "zip":
                path = bundle.zip_output(run_dir)
                return f"Adapter archive ready: `{path.name}`.", servable(path)
            if action == "merge":
                if not self.s.heavy.acquire(blocking=False):
                    return "⚠️ Another merge is running; try again when it has finished.", None
                try:
                    path = bundle.merge_adapter(run_dir)
                finally:
                    self.s.heavy.release()
                return f"Merged model saved to `{path}` (a plain transformers folder).", None
            url = bundle.push_to_hub(run_dir, repo, token)
            return f"Pushed to {url}.", None
        except Exception as exc:
            return _friendly(exc), None


    def zip_run(self, run_id: str | None, request: gr.Request = None):
        return self.run_action("zip", run_id, request=request)

    def merge_run(self, run_id: str | None, request: gr.Request = None):
        return self.run_action("merge", run_id, request=request)

    def push_run(self, run_id: str | None, repo: str, token: str, request: gr.Request = None):
        return self.run_action("push", run_id, repo, token, request=request)


def _exports_dir(owner: str | None) -> Path:
    """Where vote exports go: `<data dir>/exports`, in a folder per user when the app has logins."""
    folder = paths.subdir("exports")
    if owner is None:
        return folder
    own = folder / paths.uploads_dir(owner).name  # the same hashed name as the user's uploads folder
    own.mkdir(exist_ok=True)
    return own


def _dataset_report(dataset: dict | None) -> dict | None:
    if not dataset:
        return None
    if "dataset_type" in dataset:
        return dataset
    out = dataset.get("out_dir") or dataset.get("path")
    return read_report(out) if out else None


def _histogram(dataset: dict | None) -> str | None:
    out = (dataset or {}).get("out_dir")
    path = Path(out) / "histogram.png" if out else None
    return servable(path) if path and path.is_file() else None


def _plot_frame(points: list[dict]):
    import pandas as pd

    return pd.DataFrame(points)
