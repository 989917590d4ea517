"""`Assistant`: the one object the UI and the CLI talk to. Each conversation is a thread id.

    from assistant import Assistant
    bot = Assistant()                              # LLM from FINETUNE_ASSISTANT_LLM_* if set, else rules
    turn = bot.send("t1", "I want a support bot from 2,000 chat logs; I have an RTX 4090")
    turn.reply, turn.awaiting_approval, turn.plan_card_markdown
    turn = bot.edit("t1", "use rank 32")           # same as sending the words while a plan waits
    turn = bot.approve("t1")                       # prepare data, launch training
    turn = bot.advance("t1")                       # progress; once done: evaluate and compare

Conversations are checkpointed in SQLite (`<data dir>/conversations.db`), so a thread continues after an
app restart, and threads never see each other's state. Nothing acts before `approve`.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.actions import Actions
from assistant.graph import build_graph
from assistant.llm import REPLY_TAG, Brain, default_brain
from assistant.pipeline import compare_ahead
from assistant.plan import PlanProposal, plan_card
from assistant.recommend import Recommendation
from assistant.retention import prune_all, prune_thread
from tools import paths

_KEEP_TURNS = 1024  # last turns kept for `last_turn` (the UI reads a thread's right after its stream)


class Turn(BaseModel):
    """One exchange, with everything the UI shows. JSON-friendly (`turn.model_dump()`)."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str
    reply: str = Field(..., description="Markdown: the assistant's messages of this turn.")
    phase: str = Field("interview", description="interview | review | need_data | training | done | failed")
    state: dict[str, Any] = Field(default_factory=dict, description="ConversationState as a dict.")
    recommendation: dict[str, Any] | None = None
    plan: dict[str, Any] | None = Field(None, description="The proposed `Plan` (source, data, training, ...) as JSON.")
    proposal: dict[str, Any] | None = Field(None, description="PlanProposal: the plan plus estimate, warnings, problems.")
    plan_card_markdown: str | None = None
    awaiting_approval: bool = False
    tools_called: list[dict[str, Any]] = Field(default_factory=list, description="Every tool call in this thread.")
    run_id: str | None = None
    dataset: dict[str, Any] | None = None
    results: dict[str, Any] | None = None


def _failure(exc: Exception) -> str:
    return (f"Sorry, that step failed ({type(exc).__name__}: {exc}). Nothing was run; "
            "try again, or rephrase.")


def _new_messages(update: Any) -> list[dict]:
    """Assistant messages in one `updates` event of the graph stream ({node: {"messages": [...]}})."""
    if not isinstance(update, dict):
        return []
    out = []
    for value in update.values():
        if isinstance(value, dict):
            out += [m for m in value.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    return out


class Assistant:
    """The fine-tuning assistant. Thread-safe: a lock per thread id; threads run independently."""

    def __init__(self, llm: Any = "auto", checkpointer_path: str | Path | None = None,
                 actions: Actions | None = None, confine_paths: bool = False):
        """`llm`: "auto" (env config or rules), None (rules only) or a LangChain chat model.

        `confine_paths=True` (the web UI) refuses data files outside the data dir; the CLI allows any path.
        """
        from langgraph.checkpoint.sqlite import SqliteSaver  # LangGraph loads with the first Assistant

        self.brain: Brain = default_brain(llm)
        self.actions = actions or Actions()
        self.checkpointer_path = Path(checkpointer_path or paths.home() / "conversations.db")
        self.checkpointer_path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the UI's worker threads; SqliteSaver serialises access with its own lock.
        self._conn = sqlite3.connect(str(self.checkpointer_path), check_same_thread=False)
        self._saver = SqliteSaver(self._conn)
        self.graph = build_graph(self.brain, self.actions, self._saver, confine_paths)
        prune_all(self._saver)  # idle threads and old checkpoints (M4); a thread is pruned after each turn too
        # Per thread, but bounded (L10): a lock lives while a call holds it, and the last turns are the latest
        # only (the UI reads a thread's right after its stream); thread ids come from browsers without end.
        self._locks: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self._last: OrderedDict[str, Turn] = OrderedDict()

    # ------------------------------------------------------------------ the API

    def send(self, thread_id: str, text: str, files: list[str] | None = None, user: str | None = None) -> Turn:
        """The user's message (and attached files); while a plan waits, it is the answer to it.

        `user`: the logged-in user of the web app, if it has logins: typed data paths must lie in that user's
        uploads, and the runs it starts are that user's (M2)."""

        with self._lock_of(thread_id):
            config = self._config(thread_id, user)
            before = self._message_count(config)
            payload = self._payload(config, text, files)
            try:
                self.graph.invoke(payload, config)
            except Exception as exc:  # a bug must read as a message, not a traceback in the chat
                values = self.graph.get_state(config).values
                return self._turn_from(thread_id, values, _failure(exc))
            finally:
                prune_thread(self._saver, thread_id)
            return self._turn(thread_id, before)

    def approve(self, thread_id: str, user: str | None = None) -> Turn:
        """Approve the waiting plan: prepare the data and launch training."""
        if not self._awaiting(self._config(thread_id)):
            return self.snapshot(thread_id, reply="There is no plan waiting for approval.")
        return self.send(thread_id, "approve", user=user)

    def reject(self, thread_id: str, user: str | None = None) -> Turn:
        if not self._awaiting(self._config(thread_id)):
            return self.snapshot(thread_id, reply="There is no plan waiting for approval.")
        return self.send(thread_id, "reject", user=user)

    def edit(self, thread_id: str, text: str, user: str | None = None) -> Turn:
        """Change the waiting plan in words ("use rank 32", "3 epochs", "use Qwen2.5-1.5B")."""
        if not self._awaiting(self._config(thread_id)):
            return self.snapshot(thread_id, reply="There is no plan to edit yet; tell me about your project first.")
        return self.send(thread_id, text, user=user)

    def recommend_now(self, thread_id: str) -> Turn:
        """Skip the remaining questions and recommend from what is known (the CLI does this at end of input)."""
        if self._awaiting(self._config(thread_id)):
            return self.snapshot(thread_id)
        return self.send(thread_id, "just recommend")

    def advance(self, thread_id: str) -> Turn:
        """Check the thread's training run; once it has finished, evaluate it and compare base and tuned.

        The comparison (both models answer a held-out prompt: minutes on a CPU) runs before the thread's lock
        is taken, so the user's chat answers meanwhile (M7); the graph then writes its result under the lock.
        """
        config = self._config(thread_id)
        if not self._awaiting(config):
            compare_ahead(self.actions, self.graph.get_state(config).values)
        with self._lock_of(thread_id):
            config = self._config(thread_id)
            values = self.graph.get_state(config).values
            if values.get("phase") not in ("training",) or self._awaiting(config):
                reply = "Nothing is training in this conversation." if values.get("phase") != "done" else (
                    "This run is finished; the results are above.")
                return self._turn_from(thread_id, values, reply)
            before = self._message_count(config)
            try:
                self.graph.invoke({"input": "", "files": [], "event": "advance"}, config)
            finally:
                prune_thread(self._saver, thread_id)
            return self._turn(thread_id, before)

    def stream(self, thread_id: str, text: str, files: list[str] | None = None,
               user: str | None = None) -> Iterator[str]:  # fmt: skip
        """`send`, streamed: the LLM's reply tokens as they come, other messages as each step finishes.

        Joining the chunks gives the turn's reply; `last_turn(thread_id)` then holds the whole `Turn`.
        """
        with self._lock_of(thread_id):
            config = self._config(thread_id, user)
            before = self._message_count(config)
            payload = self._payload(config, text, files)
            first, tokens, error = True, False, ""
            for mode, data in self._events(payload, config):
                if mode == "messages":
                    chunk, meta = data
                    if REPLY_TAG in (meta.get("tags") or []) and isinstance(chunk.content, str) and chunk.content:
                        tokens = True
                        yield chunk.content
                    continue
                if isinstance(data, dict) and "error" in data:
                    error = data["error"]["messages"][0]["content"]
                for message in _new_messages(data):
                    if message.get("phrased") and tokens:
                        tokens = False  # already shown token by token
                        first = False
                        continue
                    yield ("" if first else "\n\n") + message["content"]
                    first = False
            prune_thread(self._saver, thread_id)
            turn = self._turn(thread_id, before)
            if error:
                turn.reply = f"{turn.reply}\n\n{error}".strip()
            self._remember(thread_id, turn)

    def _events(self, payload: Any, config: dict) -> Iterator[tuple[str, Any]]:
        """The graph's stream; a failure ends it with a plain message instead of an exception."""
        try:
            yield from self.graph.stream(payload, config, stream_mode=["messages", "updates"])
        except Exception as exc:
            yield "updates", {"error": {"messages": [{"role": "assistant", "content": _failure(exc)}]}}

    def last_turn(self, thread_id: str) -> Turn | None:
        return self._last.get(thread_id)

    def _lock_of(self, thread_id: str) -> Any:
        with self._locks_guard:
            lock = self._locks.get(thread_id)
            if lock is None:
                lock = self._locks[thread_id] = threading.Lock()
            return lock

    def _remember(self, thread_id: str, turn: Turn) -> None:
        self._last[thread_id] = turn
        self._last.move_to_end(thread_id)
        while len(self._last) > _KEEP_TURNS:
            self._last.popitem(last=False)

    def snapshot(self, thread_id: str, reply: str = "") -> Turn:
        """The thread's current state without sending anything."""
        values = self.graph.get_state(self._config(thread_id)).values
        return self._turn_from(thread_id, values, reply)

    def history(self, thread_id: str) -> list[dict]:
        """The thread's messages ({"role", "content"}), for redrawing a chat after a restart."""
        return list(self.graph.get_state(self._config(thread_id)).values.get("messages") or [])

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _config(thread_id: str, user: str | None = None) -> dict:
        if not thread_id:
            raise ValueError("thread_id must be a non-empty string")
        return {"configurable": {"thread_id": thread_id, "user": user}}

    def _payload(self, config: dict, text: str, files: list[str] | None) -> Any:
        """A new message for the graph, or, while a plan waits, the answer that resumes it."""
        from langgraph.types import Command

        if self._awaiting(config):
            # Files stay a list beside the words: a path is never folded into the text and parsed back.
            return Command(resume={"text": text, "files": list(files or [])})
        return {"input": text, "files": list(files or []), "event": "message"}

    def _awaiting(self, config: dict) -> bool:
        snap = self.graph.get_state(config)
        return any(task.interrupts for task in snap.tasks)

    def _message_count(self, config: dict) -> int:
        return len(self.graph.get_state(config).values.get("messages") or [])

    def _turn(self, thread_id: str, before: int) -> Turn:
        values = self.graph.get_state(self._config(thread_id)).values
        new = (values.get("messages") or [])[before:]
        reply = "\n\n".join(m["content"] for m in new if m.get("role") == "assistant")
        return self._turn_from(thread_id, values, reply)

    def _turn_from(self, thread_id: str, values: dict, reply: str) -> Turn:
        awaiting = self._awaiting(self._config(thread_id))
        proposal, rec = values.get("proposal"), values.get("recommendation")
        card = None
        if proposal and rec:
            card = plan_card(PlanProposal.model_validate(proposal), Recommendation.model_validate(rec))
        return Turn(
            thread_id=thread_id, reply=reply, phase="review" if awaiting else values.get("phase") or "interview",
            state=values.get("conv") or {}, recommendation=rec, plan=(proposal or {}).get("plan"), proposal=proposal,
            plan_card_markdown=card,
            awaiting_approval=awaiting, tools_called=list(values.get("tools_called") or []),
            run_id=values.get("run_id"), dataset=values.get("dataset"), results=values.get("results"),
        )
