"""The app's serving engines, shared by every browser session, bounded in what they hold (M7).

    pool = SharedBackends()                    # limits from FINETUNE_ASSISTANT_MAX_ENGINES / _MAX_ADAPTERS
    with pool.use("default", {"r1": "runs/r1/adapter"}) as engine:   # held until the block ends
        for delta in engine.stream("r1", [{"role": "user", "content": "Hi"}], Sampling()):
            print(delta, end="")

One engine per (base model, engine kind), started on first use; each compared run's adapter (or fully
fine-tuned model) is added to it under its run id. At most `max_engines` engines stay open and at most
`max_adapters` tuned models per engine: one more closes the least recently used idle engine, or unloads
that engine's least recently used idle tuned model. Whatever a `use` block holds is never closed or
unloaded; when everything is held, the pool goes over its limit and evicts as soon as a use ends. An evicted
engine or adapter is opened or loaded again, transparently, on its next use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.serve import holds
from tools.serve.backends import BackendName, ChatBackend, add_tuned, open_backend
from tools.serve.server import RoomDecision, ServeConfig, gpu_memory_gb, make_room

log = logging.getLogger(__name__)
MAX_ENGINES_ENV = "FINETUNE_ASSISTANT_MAX_ENGINES"
MAX_ADAPTERS_ENV = "FINETUNE_ASSISTANT_MAX_ADAPTERS"
Key = tuple[str, str]  # (base model, engine kind)


def limit_from_env(name: str, default: int) -> int:
    """A count of at least 1 from the environment variable `name`, else `default`."""
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number; set it to a count of at least 1, "
                         f"e.g. {name}={default}") from None  # fmt: skip
    if value < 1:
        raise ValueError(f"{name} must be at least 1 (got {value}); e.g. {name}={default}")
    return value


def pool_limits() -> tuple[int, int]:
    """(most open engines, most tuned models per engine): `FINETUNE_ASSISTANT_MAX_ENGINES` (default 2) and
    `FINETUNE_ASSISTANT_MAX_ADAPTERS` (default 8); ValueError naming the variable when one is not a count."""
    return limit_from_env(MAX_ENGINES_ENV, 2), limit_from_env(MAX_ADAPTERS_ENV, 8)


class SharedBackends:
    """The app's serving engines, one per (base model, engine), shared by every browser session.

    Gradio runs callbacks in threads for many users at once; this is the one explicit, locked place that
    starts an engine (a minute for vLLM), adds a new run's adapter to a running one instead of restarting,
    and evicts what is least recently used. Each (base, engine) has its own lock, so starting one base model
    never blocks comparisons on another; an engine found dead (its vLLM server exited) is closed and started
    again instead of failing every call. `opener` is how an engine is opened (`open_backend`; tests pass a
    fake one); `max_engines` / `max_adapters` default to the environment's limits (2 and 8).
    """

    def __init__(self, opener=None, memory=gpu_memory_gb, max_engines: int | None = None,
                 max_adapters: int | None = None):  # fmt: skip
        self._opener = opener if opener is not None else open_backend
        self._memory = memory  # () -> (total GB, free GB) of the GPU; tests pass figures
        engines, tuned = pool_limits() if max_engines is None or max_adapters is None else (0, 0)
        self.max_engines = _at_least_one("max_engines", max_engines) or engines
        self.max_adapters = _at_least_one("max_adapters", max_adapters) or tuned
        # Lock order: a key's lock, then `_lock`. `_lock` guards the dicts only and is never held while an
        # engine starts, loads or closes; evictions only try a key's lock, so they never wait on one.
        self._lock = threading.Lock()
        self._locks: dict[Key, threading.Lock] = {}
        self._open: OrderedDict[Key, ChatBackend] = OrderedDict()  # least recently used first
        self._tuned: dict[Key, OrderedDict[str, None]] = {}  # per engine, the tuned models added, LRU first
        self._engine_uses: Counter[Key] = Counter()
        self._tuned_uses: Counter[tuple[Key, str]] = Counter()
        self._shares: dict[Key, float] = {}  # a smaller GPU share for an engine reopened after a shrink

    def _key_lock(self, key: Key) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    @contextmanager
    def use(self, base: str = "default", adapters: dict[str, str] | None = None,
            backend: BackendName = "auto") -> Iterator[ChatBackend]:  # fmt: skip
        """The engine serving `base` with `adapters` added (started, reopened or reloaded as needed), held
        until the block ends: neither the engine nor these adapters are evicted meanwhile."""
        key, adapters = (base, backend), dict(adapters or {})
        engine = self._acquire(key, adapters)
        try:
            yield engine
        finally:
            with self._lock:
                self._engine_uses[key] -= 1
                self._tuned_uses.subtract((key, name) for name in adapters)
                self._engine_uses, self._tuned_uses = +self._engine_uses, +self._tuned_uses  # drop the zeros
            self._evict()

    def get(self, base: str = "default", adapters: dict[str, str] | None = None,
            backend: BackendName = "auto") -> ChatBackend:  # fmt: skip
        """The engine serving `base` with `adapters` added, not held: a later eviction may close it. Anything
        that generates on it (a stream, a comparison) takes it with `use` instead."""
        with self.use(base, adapters, backend) as engine:
            return engine

    def _acquire(self, key: Key, adapters: dict[str, str]) -> ChatBackend:
        with self._lock:
            known = key in self._open
        if not known:  # before a start: a third vLLM server may not fit beside two
            self._close_idle_engines(room_for=1, keep=key)
        with self._key_lock(key):
            engine, started = self._opened(key, adapters), False
            if engine is None:
                engine, started = self._start(key, adapters), True
            else:
                self._add_missing(key, engine, adapters)
            with self._lock:  # counted under the key's lock, so no eviction can slip in before
                self._open.move_to_end(key)
                for name in adapters:
                    self._tuned[key].move_to_end(name)
                    self._tuned_uses[(key, name)] += 1
                self._engine_uses[key] += 1
        if started:
            self._record_hold()
        return engine

    def _opened(self, key: Key, adapters: dict[str, str]) -> ChatBackend | None:
        """The open engine of `key`, or None (a dead one is closed first). Caller holds the key's lock."""
        with self._lock:
            opened = self._open.get(key)
        if opened is not None and not opened.alive():
            with self._lock:
                self._forget(key)
            opened.close()  # frees what is left of it (its process group, its port)
            return None
        return opened

    def _start(self, key: Key, adapters: dict[str, str]) -> ChatBackend:
        share = self._shares.get(key)
        extra = [ServeConfig(gpu_memory_utilization=share)] if share else []
        opened = self._opener(key[0], adapters, key[1], *extra)
        with self._lock:
            self._open[key] = opened
            self._tuned[key] = OrderedDict.fromkeys(adapters)
        return opened

    def _add_missing(self, key: Key, engine: ChatBackend, adapters: dict[str, str]) -> None:
        served = engine.models()
        missing = {n: p for n, p in adapters.items() if served.get(n) != str(Path(p).expanduser().resolve())}
        with self._lock:
            new = [n for n in missing if n not in self._tuned[key]]
        self._unload_idle(key, engine, room_for=len(new), keep=set(adapters))
        for name, path in missing.items():
            add_tuned(engine, name, path)
            with self._lock:
                self._tuned[key][name] = None

    def _unload_idle(self, key: Key, engine: ChatBackend, room_for: int = 0,
                     keep: frozenset[str] | set[str] = frozenset()) -> None:  # fmt: skip
        """Unload the engine's least recently used idle tuned models until `room_for` more fit under the
        limit. Caller holds the key's lock."""
        with self._lock:
            tuned = self._tuned.get(key, {})
            excess = len(tuned) + room_for - self.max_adapters
            idle = [n for n in tuned if n not in keep and not self._tuned_uses[(key, n)]]
        for name in idle[:max(excess, 0)]:
            try:
                engine.remove_adapter(name)
            except Exception as exc:  # kept on the books: the next eviction tries again
                log.warning("unloading %s from the %s engine of %s: %s", name, key[1], key[0], exc)
                continue
            with self._lock:
                tuned.pop(name, None)

    def _close_idle_engines(self, room_for: int = 0, keep: Key | None = None) -> None:
        """Close the least recently used idle engines until `room_for` more fit under the limit."""
        with self._lock:
            excess = len(self._open) + room_for - self.max_engines
            idle = [k for k in self._open if k != keep and not self._engine_uses[k]]
        closed = 0
        for key in idle:
            if closed >= excess:
                break
            lock = self._key_lock(key)
            if not lock.acquire(blocking=False):
                continue  # starting or adding adapters: about to be used
            try:
                with self._lock:
                    engine = self._open.get(key)
                    if engine is None or self._engine_uses[key]:
                        continue
                    self._forget(key)
                engine.close()
                closed += 1
            finally:
                lock.release()
        if closed:
            self._record_hold()

    def _evict(self) -> None:
        """Bring the pool back under its limits with what is idle now (after a use ended)."""
        self._close_idle_engines()
        with self._lock:
            over = [k for k, tuned in self._tuned.items() if len(tuned) > self.max_adapters]
        for key in over:
            lock = self._key_lock(key)
            if not lock.acquire(blocking=False):
                continue  # whoever holds it is adding an adapter, and unloads the idle ones first
            try:
                with self._lock:
                    engine = self._open.get(key)
                if engine is not None:
                    self._unload_idle(key, engine)
            finally:
                lock.release()

    def _forget(self, key: Key) -> ChatBackend | None:
        """Take `key`'s engine off the books (caller holds `_lock`); the caller closes it."""
        self._tuned.pop(key, None)
        return self._open.pop(key, None)

    def open_engines(self) -> list[Key]:
        """(base, engine) of the open engines, least recently used first."""
        with self._lock:
            return list(self._open)

    def tuned_models(self, base: str, backend: BackendName = "auto") -> list[str]:
        """The tuned models added to the engine of (`base`, `backend`), least recently used first."""
        with self._lock:
            return list(self._tuned.get((base, backend), {}))

    def holds_gpu(self) -> bool:
        """Whether an open engine reserved GPU memory (a vLLM server started on a GPU)."""
        with self._lock:
            engines = list(self._open.values())
        return any(e.gpu_footprint(1.0)[0] > 0 for e in engines if hasattr(e, "gpu_footprint"))

    def held_gb(self) -> float:
        """GB of GPU memory the open engines reserve (0 without a GPU)."""
        total, _ = self._memory()
        with self._lock:
            engines = list(self._open.values())
        return sum(e.gpu_footprint(total)[0] for e in engines if hasattr(e, "gpu_footprint"))

    def _record_hold(self) -> None:
        """Tell every process that may start a run what these engines hold (see `tools.serve.holds`)."""
        try:
            holds.record(self.held_gb())
        except Exception as exc:  # a locked store must not fail a comparison; the queue worker records it again
            log.warning("recording the GPU hold: %s", exc)

    def before_run_starts(self, run_gb: float) -> list[RoomDecision]:
        """Make GPU room for a training run of `run_gb` (its estimated peak) before it starts (H5).

        Each vLLM engine is kept, closed to be reopened later at a smaller share (shrink), or closed (stop),
        as `make_room` decides from the GPU's figures; the next comparison reopens it. Call it from the place
        that starts queued runs, before the launch. The run comes first: an engine in use is closed too, and
        its comparison ends with an error.
        """
        total, free = self._memory()
        decisions = []
        with self._lock:
            engines = [(k, e) for k, e in self._open.items() if hasattr(e, "gpu_footprint")]
        for key, engine in engines:
            reserved, weights = engine.gpu_footprint(total)
            decision = make_room(total, free, run_gb, reserved, weights)
            decisions.append(decision)
            if decision.action == "keep":
                continue
            with self._key_lock(key):
                with self._lock:
                    self._forget(key)
                    if decision.share:
                        self._shares[key] = decision.share
                engine.close()
            free += reserved
        self._record_hold()
        return decisions

    def close_all(self) -> None:
        """Close every engine; waits for a start in progress so that its server is closed too."""
        with self._lock:
            keys = list(self._locks)
        for key in keys:
            with self._key_lock(key):
                with self._lock:
                    opened = self._forget(key)
                if opened is not None:
                    opened.close()
        self._record_hold()


def _at_least_one(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be at least 1 (got {value})")
    return value
