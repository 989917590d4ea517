"""Record a hosted model's answers to every held-out prompt: the golden set a migration is judged against.

    finetune-assistant migrate record --data validation.jsonl --endpoint https://api.openai.com/v1 \
        --model ft:gpt-4o-mini:acme::abc123 --api-key-env OPENAI_API_KEY --out golden/

The data is an OpenAI fine-tuning file (chat rows `{"messages": [...], "tools": [...]}` or preference rows
`{"input": {"messages": [...]}, "preferred_output": [...], ...}`), normally the job's validation file. Each
row's prompt is its messages up to the last assistant turn; that turn is kept as the reference answer.

The golden folder holds `golden.jsonl` (one line per answered prompt, appended and flushed as answers
arrive) and `meta.json`. A run that stops halfway (Ctrl-C, a crash, a lost connection) resumes where it
stopped: prompts already in `golden.jsonl` are never asked again. At most `concurrency` requests are in
flight; 429 and 5xx answers and dropped connections are retried with exponential backoff (honouring
Retry-After). The API key is read from an environment variable and is never written, logged or echoed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tools.paths import atomic_write_text

GOLDEN_FILE = "golden.jsonl"
META_FILE = "meta.json"
RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)


class RecordError(RuntimeError):
    """A problem the user can act on (a bad file, a refused key, an endpoint that never answers)."""


@dataclass(frozen=True)
class HeldOutPrompt:
    id: str  # a hash of the prompt messages and tools: the same prompt has the same id in every run
    row: int  # 1-based line in the data file
    messages: list[dict]
    reference: str | None
    tools: list[dict] | None = None


@dataclass
class GoldenSet:
    out_dir: str
    asked: int = 0  # prompts sent in this call
    skipped: int = 0  # already in golden.jsonl from an earlier call
    failed: list[dict] = field(default_factory=list)  # {"row", "id", "error"}
    total: int = 0

    @property
    def complete(self) -> bool:
        return not self.failed and self.asked + self.skipped == self.total


def prompt_id(messages: list[dict], tools: list[dict] | None) -> str:
    canonical = json.dumps({"messages": messages, "tools": tools or None}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def held_out_prompts(path: str | Path) -> list[HeldOutPrompt]:
    """Every prompt of an OpenAI fine-tuning file, with a clear error naming the file, row and field."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise RecordError(f"{source}: file not found; pass the validation file of your fine-tuning job (JSONL).")
    prompts, seen = [], set()
    with source.open(encoding="utf-8") as handle:
        for row, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{source}, row {row}: not valid JSON ({exc.msg}); fix or remove that line.") from None
            prompt = _prompt_of(item, source, row)
            if prompt.id not in seen:  # a duplicate prompt is asked once
                seen.add(prompt.id)
                prompts.append(prompt)
    if not prompts:
        raise RecordError(f"{source}: no rows; pass the validation file of your fine-tuning job (JSONL).")
    return prompts


def _prompt_of(item: object, source: Path, row: int) -> HeldOutPrompt:
    where = f"{source}, row {row}"
    if not isinstance(item, dict):
        raise RecordError(f"{where}: expected a JSON object with 'messages' (chat) or 'input' (preference).")
    if "input" in item and isinstance(item["input"], dict):  # OpenAI's preference format
        messages = item["input"].get("messages")
        preferred = item.get("preferred_output") or []
        reference = next((m.get("content") for m in preferred if isinstance(m, dict)), None)
        tools = item["input"].get("tools")
    else:
        messages = item.get("messages")
        reference, tools = None, item.get("tools") or item.get("functions")
        if isinstance(messages, list):
            last = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"), default=None)
            if last is not None:
                reference = messages[last].get("content")
                messages = messages[:last]
    if not isinstance(messages, list) or not messages:
        raise RecordError(f"{where}, field 'messages': expected a non-empty list of {{role, content}} turns before the answer.")
    for turn in messages:
        if not isinstance(turn, dict) or "role" not in turn:
            raise RecordError(f"{where}, field 'messages': every turn needs a 'role' (system, user, assistant or tool).")
    return HeldOutPrompt(prompt_id(messages, tools), row, messages, reference if isinstance(reference, str) else None, tools)


def recorded_ids(out_dir: str | Path) -> set[str]:
    """Ids already answered. A torn last line (a crash mid-write) is cut off so the file stays valid JSONL."""
    golden = Path(out_dir) / GOLDEN_FILE
    if not golden.is_file():
        return set()
    data = golden.read_bytes()
    keep = data if data.endswith(b"\n") or not data else data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        with golden.open("r+b") as handle:
            handle.truncate(len(keep))
    ids = set()
    for line in keep.decode("utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return ids


@dataclass
class _Client:
    endpoint: str
    model: str
    api_key: str | None
    max_tokens: int
    temperature: float
    max_retries: int
    timeout_s: float
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.http = httpx.Client(base_url=self.endpoint.rstrip("/"), headers=headers, timeout=self.timeout_s)

    def ask(self, prompt: HeldOutPrompt) -> dict:
        body = {"model": self.model, "messages": prompt.messages, "max_tokens": self.max_tokens,
                "temperature": self.temperature}  # fmt: skip
        if prompt.tools:
            body["tools"] = prompt.tools
        for attempt in range(self.max_retries + 1):
            started = time.monotonic()
            try:
                response = self.http.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                error = f"connection failed ({type(exc).__name__})"
                retry_after = None
            else:
                if response.status_code == 200:
                    return _answer(response.json(), time.monotonic() - started)
                if response.status_code in (401, 403):
                    raise RecordError(f"the endpoint refused the API key (HTTP {response.status_code}); check --api-key-env.")
                error = f"HTTP {response.status_code}: {_error_text(response)}"
                if response.status_code not in RETRY_STATUS:
                    raise _PromptFailed(error)
                retry_after = _retry_after(response)
            if attempt == self.max_retries:
                raise _PromptFailed(f"{error} after {self.max_retries + 1} attempts")
            # Exponential backoff with jitter so parallel workers don't retry in lockstep.
            self.sleep(retry_after if retry_after is not None else min(60.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


class _PromptFailed(RuntimeError):
    """This prompt failed for good (other prompts go on)."""


def _answer(payload: dict, seconds: float) -> dict:
    choice = (payload.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    return {"answer": message.get("content") or "", "tool_calls": message.get("tool_calls"),
            "finish_reason": choice.get("finish_reason"), "usage": payload.get("usage"),
            "latency_ms": round(seconds * 1000, 1), "served_model": payload.get("model")}  # fmt: skip


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("message", ""))[:200]
    except (ValueError, AttributeError):
        return response.text[:200]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(120.0, max(0.0, float(response.headers.get("retry-after", ""))))
    except ValueError:
        return None


def record(data: str | Path, endpoint: str, model: str, out_dir: str | Path, api_key_env: str = "OPENAI_API_KEY",
           concurrency: int = 4, max_tokens: int = 512, temperature: float = 0.0, max_retries: int = 5,
           timeout_s: float = 120.0, progress: Callable[[int, int], None] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> GoldenSet:  # fmt: skip
    """Ask `model` at `endpoint` every held-out prompt of `data` not yet in `out_dir`; return the tally."""
    if concurrency < 1:
        raise RecordError("--concurrency must be at least 1.")
    prompts = held_out_prompts(data)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    done = recorded_ids(out)
    pending = [p for p in prompts if p.id not in done]
    result = GoldenSet(out_dir=str(out), skipped=len(prompts) - len(pending), total=len(prompts))
    _write_meta(out, data, endpoint, model, api_key_env, len(prompts), temperature, max_tokens)
    client = _Client(endpoint, model, os.environ.get(api_key_env) or None, max_tokens, temperature, max_retries,
                     timeout_s, sleep)  # fmt: skip
    with (out / GOLDEN_FILE).open("a", encoding="utf-8") as golden, ThreadPoolExecutor(concurrency) as pool:
        calls = _Bounded(pool, client.ask, pending, concurrency)

        def keep(prompt: HeldOutPrompt, outcome: object) -> None:
            if isinstance(outcome, RecordError):
                raise outcome
            if isinstance(outcome, BaseException):
                result.failed.append({"row": prompt.row, "id": prompt.id, "error": str(outcome)})
            else:
                line = {"id": prompt.id, "row": prompt.row, "messages": prompt.messages, "tools": prompt.tools,
                        "reference": prompt.reference, "model": model,
                        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **outcome}  # fmt: skip
                # One flushed line per answer: a kill -9 loses at most the answers still in flight.
                golden.write(json.dumps(line, ensure_ascii=False) + "\n")
                golden.flush()
                result.asked += 1
            if progress:
                progress(result.asked + result.skipped + len(result.failed), result.total)

        try:
            for prompt, outcome in calls:
                keep(prompt, outcome)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: send nothing new, but keep the answers already on their way, so a resumed
            # run asks no prompt twice.
            for prompt, outcome in calls.drain():
                keep(prompt, outcome)
            raise
        finally:
            client.http.close()
    return result


class _Bounded:
    """(item, result or exception) as calls finish, with at most `limit` in flight."""

    def __init__(self, pool: ThreadPoolExecutor, fn: Callable, items: list, limit: int) -> None:
        self.pool, self.fn, self.items, self.limit = pool, fn, iter(items), limit
        self.running: dict[Future, object] = {}

    def __iter__(self) -> Iterator[tuple[object, object]]:
        while True:
            while len(self.running) < self.limit:
                item = next(self.items, None)
                if item is None:
                    break
                self.running[self.pool.submit(self.fn, item)] = item
            if not self.running:
                return
            finished, _ = wait(self.running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield self.running.pop(future), _outcome(future)

    def drain(self) -> Iterator[tuple[object, object]]:
        """Start nothing new; the calls already sent, as they finish."""
        self.items = iter(())
        for future in [f for f in self.running if f.cancel()]:
            self.running.pop(future)
        for future in list(self.running):
            wait([future])
            yield self.running.pop(future), _outcome(future)


def _outcome(future: Future) -> object:
    error = future.exception()
    return error if error is not None else future.result()


def _write_meta(out: Path, data: str | Path, endpoint: str, model: str, key_env: str, total: int,
                temperature: float, max_tokens: int) -> None:  # fmt: skip
    digest = hashlib.sha256(Path(data).expanduser().read_bytes()).hexdigest()
    meta = {"data": str(Path(data).expanduser().resolve()), "data_sha256": digest, "endpoint": endpoint,
            "model": model, "api_key_env": key_env, "prompts": total,
            "sampling": {"temperature": temperature, "max_tokens": max_tokens}}  # fmt: skip
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def load_golden(out_dir: str | Path) -> list[dict]:
    """The recorded answers, in the order they arrived."""
    recorded_ids(out_dir)  # repairs a torn last line first
    golden = Path(out_dir) / GOLDEN_FILE
    if not golden.is_file():
        return []
    return [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines() if line.strip()]
