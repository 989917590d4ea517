"""Base vs tuned, side by side: the same messages and sampling to both, concurrently and streamed.

    backend = open_backend("default", {"tuned": "runs/r1/adapter"})
    for c in compare_stream(backend, "My battery dies after 10 km", tuned="tuned", blind=True):
        print(c.answer_a, "|", c.answer_b)
    record_vote(c, "B")               # A, B, tie or both_bad
    win_rate()                        # the tuned model's running win rate over the votes
    export_votes("prefs.jsonl", tuned_model="tuned")   # one run's prompt/chosen/rejected rows, ready for DPO

In blind mode A and B are a fresh coin flip per prompt, so the voter can't learn which side is tuned.
Votes live in the SQLite table `votes` of the app's store with both answers, the model ids and settings.
A vote for A or B is a preference pair; ties and "both bad" count in the tally but make no pair.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tools import paths, store
from tools.serve.backends import BASE, ChatBackend, Sampling

Vote = Literal["A", "B", "tie", "both_bad"]
VOTES: tuple[str, ...] = ("A", "B", "tie", "both_bad")


@dataclass
class Comparison:
    """One prompt answered by two models. `order` says which role ("base"/"tuned") is shown as A and B."""

    prompt: str
    messages: list[dict]
    base_model: str
    tuned_model: str
    sampling: dict
    blind: bool = False
    order: tuple[str, str] = ("base", "tuned")
    answers: dict[str, str] = field(default_factory=lambda: {"base": "", "tuned": ""})
    seconds: dict[str, float] = field(default_factory=dict)
    done: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def answer_a(self) -> str:
        return self.answers[self.order[0]]

    @property
    def answer_b(self) -> str:
        return self.answers[self.order[1]]

    def model_of(self, side: Literal["A", "B"]) -> str:
        role = self.order[0 if side == "A" else 1]
        return self.base_model if role == "base" else self.tuned_model


def build_messages(prompt: str, system: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def new_comparison(backend: ChatBackend, prompt: str, tuned: str, base: str = BASE, sampling: Sampling | None = None,
                   system: str | None = None, blind: bool = False, rng: random.Random | None = None,
                   messages: list[dict] | None = None) -> Comparison:  # fmt: skip
    """`messages`: the exact conversation to send (a recorded prompt with its system turn and history);
    by default the prompt as one user turn after `system`."""
    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty; type a question for both models")
    served = backend.models()
    for name in (base, tuned):
        if name not in served:
            raise KeyError(f"no model named '{name}' is served (have: {', '.join(served)})")
    order = ("base", "tuned")
    if blind and (rng or random).random() < 0.5:
        order = ("tuned", "base")
    sampling = sampling or Sampling()
    return Comparison(prompt=prompt, messages=messages or build_messages(prompt, system), base_model=base, tuned_model=tuned,
                      sampling=sampling.model_dump(), blind=blind, order=order,
                      models={base: served[base], tuned: served[tuned]})  # fmt: skip


def compare_stream(backend: ChatBackend, prompt: str, tuned: str, base: str = BASE, sampling: Sampling | None = None,
                   system: str | None = None, blind: bool = False, rng: random.Random | None = None,
                   messages: list[dict] | None = None) -> Iterator[Comparison]:  # fmt: skip
    """Yield the comparison each time either answer grows; the last one has `done=True`.

    Both models are asked at once from two threads, so the wall time is the slower answer, not the sum.
    """
    comp = new_comparison(backend, prompt, tuned, base, sampling, system, blind, rng, messages)
    settings = Sampling(**comp.sampling)
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    started = time.perf_counter()
    threads = [threading.Thread(target=_pump, args=(backend, role, model, comp.messages, settings, events, cancel),
                                daemon=True)
               for role, model in (("base", base), ("tuned", tuned))]  # fmt: skip
    for thread in threads:
        thread.start()
    running, error = len(threads), None
    try:
        while running:
            role, delta, exc = events.get()
            if delta is None:
                running -= 1
                comp.seconds[role] = round(time.perf_counter() - started, 3)
                error = error or exc
                continue
            comp.answers[role] += delta
            yield comp
    finally:
        cancel.set()  # the reader stopped early (a Stop button): end both generations, not just our loop
    if error is not None:
        raise error
    comp.answers = {role: text.strip() for role, text in comp.answers.items()}
    comp.done = True
    yield comp


def _pump(backend: ChatBackend, role: str, model: str, messages: list[dict], sampling: Sampling, events,
          cancel: threading.Event) -> None:  # fmt: skip
    stream = backend.stream(model, messages, sampling)
    try:
        for delta in stream:
            if cancel.is_set():
                break
            events.put((role, delta, None))
    except Exception as exc:  # reported to the consumer, which re-raises after both sides end
        events.put((role, None, exc))
        return
    finally:
        stream.close()  # closes the HTTP stream (vLLM aborts the request) or stops transformers' generate
    events.put((role, None, None))


def compare(backend: ChatBackend, prompt: str, tuned: str, base: str = BASE, sampling: Sampling | None = None,
            system: str | None = None, blind: bool = False, rng: random.Random | None = None,
            messages: list[dict] | None = None) -> Comparison:  # fmt: skip
    """Both answers, complete (the last state of `compare_stream`)."""
    from collections import deque

    return deque(compare_stream(backend, prompt, tuned, base, sampling, system, blind, rng, messages), maxlen=1)[0]


# --- votes ----------------------------------------------------------------------------------------------

def record_vote(comp: Comparison, choice: Vote, db: str | Path | None = None, owner: str | None = None) -> int:
    """Store the vote with the prompt, both answers, the model ids and settings; a re-vote replaces it.
    `owner`: the logged-in user who voted (None without logins)."""
    if choice not in VOTES:
        raise ValueError(f"vote must be one of {', '.join(VOTES)}, got '{choice}'")
    if not comp.done:
        raise ValueError("both answers are still being written; vote once they are complete")
    settings = {"sampling": comp.sampling, "models": comp.models, "order": list(comp.order), "seconds": comp.seconds}
    row = (comp.id, datetime.now(UTC).isoformat(timespec="seconds"), comp.prompt, json.dumps(comp.messages),
           comp.answer_a, comp.answer_b, comp.model_of("A"), comp.model_of("B"), comp.base_model, comp.tuned_model,
           choice, int(comp.blind), json.dumps(settings), owner)  # fmt: skip
    # One statement, so a re-vote from another tab or process replaces the row atomically.
    with store.connect(db) as conn:
        conn.execute(
            "INSERT INTO votes (comparison_id, created_at, prompt, messages, answer_a, answer_b, model_a, model_b, "
            "base_model, tuned_model, choice, blind, settings, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(comparison_id) DO UPDATE SET choice = excluded.choice, created_at = excluded.created_at",
            row,
        )
        vote_id = conn.execute("SELECT id FROM votes WHERE comparison_id = ?", (comp.id,)).fetchone()[0]
    return vote_id


def votes(db: str | Path | None = None, owner: str | None = None) -> list[dict]:
    """Every vote, oldest first; with `owner`, only that user's (None: all, as for a single user)."""
    with store.connect(db) as conn:
        if owner is None:
            rows = conn.execute("SELECT * FROM votes ORDER BY id").fetchall()
        else:
            rows = conn.execute("SELECT * FROM votes WHERE owner = ? ORDER BY id", (owner,)).fetchall()
    return [dict(r) for r in rows]


@dataclass
class WinRate:
    """Tally of votes. rate = (tuned wins + half the ties) / (wins + losses + ties); 'both bad' is left out."""

    votes: int = 0
    tuned_wins: int = 0
    base_wins: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def rate(self) -> float | None:
        decided = self.tuned_wins + self.base_wins + self.ties
        return (self.tuned_wins + 0.5 * self.ties) / decided if decided else None

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}

    def sentence(self) -> str:
        if self.rate is None:
            return "No decisive votes yet."
        return (f"Tuned wins {self.rate:.0%} of {self.votes} votes ({self.tuned_wins} won, {self.base_wins} lost, "
                f"{self.ties} ties, {self.both_bad} both bad).")  # fmt: skip


def win_rate(tuned_model: str | None = None, db: str | Path | None = None, base_model: str | None = None,
             owner: str | None = None) -> WinRate:
    """The tuned model's running win rate over all votes (or those of one tuned model against one base, or one user's)."""
    tally = WinRate()
    for row in votes(db, owner):
        if (tuned_model and row["tuned_model"] != tuned_model) or (base_model and row["base_model"] != base_model):
            continue
        tally.votes += 1
        choice = row["choice"]
        if choice in ("A", "B"):
            winner = row["model_a"] if choice == "A" else row["model_b"]
            if winner == row["tuned_model"]:
                tally.tuned_wins += 1
            else:
                tally.base_wins += 1
        elif choice == "tie":
            tally.ties += 1
        else:
            tally.both_bad += 1
    return tally


@dataclass
class ExportResult:
    path: str
    rows: int
    skipped: int


def export_votes(path: str | Path | None = None, db: str | Path | None = None, tuned_model: str | None = None,
                 base_model: str | None = None, owner: str | None = None) -> ExportResult:  # fmt: skip
    """Write A/B votes as conversational preference rows {"prompt", "chosen", "rejected"} (JSONL, atomically).

    `path` defaults to `<data dir>/datasets/votes-<time>.jsonl`. All votes by default; `tuned_model` and/or
    `base_model` keep only the votes of one run (its served name) or one base, so runs' data don't mix;
    `owner` only one user's votes (the web app with logins).
    The prompt keeps the system message the models saw, so DPO trains on exactly what was compared.
    Ties, "both bad", identical answers and empty answers teach nothing and are skipped (and counted).
    """
    lines, skipped = [], 0
    for row in votes(db, owner):
        if (tuned_model and row["tuned_model"] != tuned_model) or (base_model and row["base_model"] != base_model):
            continue
        a, b = row["answer_a"].strip(), row["answer_b"].strip()
        if row["choice"] not in ("A", "B") or a == b or not a or not b:
            skipped += 1
            continue
        chosen, rejected = (row["answer_a"], row["answer_b"]) if row["choice"] == "A" else (row["answer_b"], row["answer_a"])
        lines.append(json.dumps({
            "prompt": json.loads(row["messages"]),
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }, ensure_ascii=False))  # fmt: skip
    if not lines:
        which = " and ".join(f"{k} '{v}'" for k, v in (("tuned model", tuned_model), ("base model", base_model)) if v)
        raise ValueError(f"no A/B votes {'for ' + which + ' ' if which else ''}to export yet ({skipped} skipped: "
                         "ties, both bad, identical or empty answers); vote A or B first")  # fmt: skip
    path = path or paths.datasets_dir() / f"votes-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.jsonl"
    out = paths.atomic_write_text(path, "\n".join(lines) + "\n")
    return ExportResult(path=str(out), rows=len(lines), skipped=skipped)
