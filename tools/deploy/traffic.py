"""The gateway's request log: records are queued on the request path and written by one thread in batches.

    log = TrafficLog(deployment_id="d1", redact=True, tokenizer="path/to/base")
    log.put(Exchange(...))     # microseconds: a queue append
    log.flush()                # waits until everything queued so far is in SQLite (feedback needs its row)
    log.close()                # drains the queue: nothing queued is lost on shutdown

Everything slow happens on the writer thread, never while a client waits: parsing the upstream's JSON or
server-sent events, PII redaction (tools/data/pii.py), token counting when the engine sent no `usage`,
and the SQLite write itself. The writer wakes at most every `linger_s` (0.05 s; a flush or close
cuts it short): it waits rather than waking on each append, so under load it takes the GIL from the gateway's event loop once per batch, not
once per request, and writes each batch in one transaction over its own connection (WAL, synchronous=NORMAL:
a committed batch survives a crash of the process; only a power cut can lose the last ones).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tools import store
from tools.data.pii import redact_text

_BATCH = 512
_STOP = object()


@dataclass
class Exchange:
    """One request through the gateway, as raw as the request path has it."""

    completion_id: str
    created_at: float
    key_name: str | None
    requested_model: str | None
    model: str | None
    route: str | None
    request: dict
    status: int
    latency_ms: float
    response: bytes = b""
    stream: bool = False
    ttft_ms: float | None = None
    error: str | None = None
    reask_of: str | None = None
    extra: dict = field(default_factory=dict)


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # OpenAI content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _redacted(message, counts: Counter):
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list):  # OpenAI content parts: redact each text part, keep the structure
        parts = [{**p, "text": redact_text(str(p.get("text", "")), counts)} if isinstance(p, dict) and "text" in p else p
                 for p in content]  # fmt: skip
        return {**message, "content": parts}
    return {**message, "content": redact_text(str(content or ""), counts)}


def parse_response(raw: bytes, stream: bool) -> dict:
    """answer, finish_reason, usage and upstream id from a chat completion body or its SSE stream."""
    out: dict = {"answer": "", "finish_reason": None, "usage": None, "upstream_id": None}
    if not raw:
        return out
    if not stream:
        try:
            body = json.loads(raw)
        except ValueError:
            return out
        choice = (body.get("choices") or [{}])[0]
        out.update(answer=(choice.get("message") or {}).get("content") or "", finish_reason=choice.get("finish_reason"),
                   usage=body.get("usage"), upstream_id=body.get("id"))  # fmt: skip
        return out
    parts = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        try:
            chunk = json.loads(line[5:])
        except ValueError:
            continue
        out["upstream_id"] = out["upstream_id"] or chunk.get("id")
        out["usage"] = chunk.get("usage") or out["usage"]
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            out["finish_reason"] = choice.get("finish_reason") or out["finish_reason"]
    out["answer"] = "".join(parts)
    return out


class TrafficLog:
    def __init__(self, deployment_id: str | None = None, redact: bool = True, tokenizer: str | None = None,
                 linger_s: float = 0.05):  # fmt: skip
        self.deployment_id, self.redact, self.tokenizer_path = deployment_id, redact, tokenizer
        self.linger_s = linger_s
        self.written = 0
        self.redactions: Counter[str] = Counter()
        self._tokenizer = None
        self._db = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()  # cuts the linger short: someone waits for the log (flush, close)
        self._thread = threading.Thread(target=self._run, name="traffic-log", daemon=True)
        self._thread.start()

    def put(self, exchange: Exchange) -> None:
        self._queue.put(exchange)

    def flush(self, timeout: float = 30.0) -> None:
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        if not done.wait(timeout):
            raise TimeoutError(f"the traffic log did not catch up within {timeout:.0f}s")

    def close(self) -> None:
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                items = [self._queue.get()]
                if isinstance(items[0], Exchange) and not self._wake.is_set():
                    self._wake.wait(self.linger_s)  # let a batch gather (a flush or close does not wait for it)
                self._wake.clear()
                while len(items) < _BATCH:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                rows = []
                for x in items:
                    if isinstance(x, Exchange):
                        rows.append(self._safe_row(x))
                        # Hand the GIL over between rows: the event loop waits for at most one row's work
                        # (well under a millisecond), not the interpreter's 5 ms switch interval.
                        time.sleep(0)
                if rows:
                    self._write(rows)
                for x in items:
                    if isinstance(x, threading.Event):
                        x.set()
                if any(x is _STOP for x in items):
                    return
        finally:
            if self._db is not None:
                self._db.close()

    def _write(self, rows: list[tuple]) -> None:
        # A failed write must not kill the thread (the next batch may succeed); it is retried once, then
        # reported on stderr with the completion ids, so a lost row is at least visible.
        for attempt in (1, 2):
            try:
                if self._db is None:
                    self._db = store.open_db()
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(_INSERT, rows)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self.written += len(rows)
                return
            except Exception as exc:  # noqa: BLE001 - sqlite3.Error, disk full...
                if self._db is not None:  # a fresh connection for the retry
                    self._db.close()
                    self._db = None
                if attempt == 2:
                    ids = ", ".join(r[0] for r in rows[:5])
                    print(f"traffic log: could not write {len(rows)} rows ({ids}...): {exc}", flush=True)
                time.sleep(0.5)

    def _safe_row(self, x: Exchange) -> tuple:
        """The exchange's row; one the log cannot take apart (an odd body) is still kept, with why."""
        try:
            return self._row(x)
        except Exception as exc:  # noqa: BLE001 - a record must not be dropped, nor the writer thread die
            return (x.completion_id, None, self.deployment_id, x.created_at, x.key_name, x.requested_model, x.model,
                    x.route, "", "[]", "", None, None, None, None, round(x.latency_ms, 3), None, x.status,
                    f"the request log could not read this exchange: {exc!r}"[:2000], int(x.stream), int(self.redact),
                    x.reask_of)  # fmt: skip

    def _row(self, x: Exchange) -> tuple:
        parsed = parse_response(x.response, x.stream) if x.status == 200 else {"answer": "", "finish_reason": None,
                                                                             "usage": None, "upstream_id": None}  # fmt: skip
        messages = x.request.get("messages") or []
        answer, prompt = parsed["answer"], last_user_text(messages)
        usage = parsed["usage"] or {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        if completion_tokens is None and x.status == 200:
            completion_tokens = self._count(answer)
            prompt_tokens = self._count(" ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict)))
        max_tokens = x.request.get("max_tokens") or x.request.get("max_completion_tokens")
        finish = parsed["finish_reason"]
        if finish is None and x.status == 200 and max_tokens and completion_tokens and completion_tokens >= max_tokens:
            finish = "length"  # engines that don't say why they stopped: hitting max_tokens is a cut-off
        if self.redact:
            answer = redact_text(answer, self.redactions)
            messages = [_redacted(m, self.redactions) for m in messages]
            prompt = last_user_text(messages)  # redacted once, with the messages it comes from
        return (x.completion_id, parsed["upstream_id"], self.deployment_id, x.created_at, x.key_name, x.requested_model,
                x.model, x.route, prompt, json.dumps(messages, ensure_ascii=False), answer, finish, max_tokens,
                prompt_tokens, completion_tokens, round(x.latency_ms, 3),
                None if x.ttft_ms is None else round(x.ttft_ms, 3), x.status, x.error, int(x.stream),
                int(self.redact), x.reask_of)  # fmt: skip

    def _count(self, text: str) -> int:
        if self._tokenizer is None and self.tokenizer_path:
            try:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
            except Exception:  # noqa: BLE001 - no tokenizer: fall back to words, and say so once
                print(f"traffic log: no tokenizer at {self.tokenizer_path}; counting words as tokens", flush=True)
                self.tokenizer_path = None
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return len(text.split())


_INSERT = """INSERT OR IGNORE INTO traffic (completion_id, upstream_id, deployment_id, created_at, key_name,
    requested_model, model, route, prompt, messages, answer, finish_reason, max_tokens, prompt_tokens,
    completion_tokens, latency_ms, ttft_ms, status, error, stream, redacted, reask_of)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
