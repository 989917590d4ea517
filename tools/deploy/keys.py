"""API keys for the gateway: created once (shown once), stored as a salted hash, checked from a cache.

    finetune-assistant keys create alice        # prints fa-3f9c01ab-<secret> once
    finetune-assistant keys list
    finetune-assistant keys revoke alice

A key is `fa-<key_id>-<secret>`: the id finds the row, the secret is checked against `sha256(salt + secret)`.
The secret is 32 random bytes, so a fast hash is enough (a slow KDF protects guessable passwords, not these).
The gateway never reads the table per request: `KeyCache` holds the hashes and a thread reloads them every
`refresh_s`, so a revocation takes effect within about that many seconds, and the request path checks a key
with a dictionary lookup and one SHA-256 (`check_cached`); only an id it has not seen yet costs a read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from tools import store

PREFIX = "fa-"
MISS = object()  # check_cached: this id is not in memory; ask `check` (which reads SQLite) off the event loop
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")


class KeyProblem(ValueError):
    """A key command that cannot be done (a bad or duplicate name, an unknown key)."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    salt: str
    hash: str
    rate_per_min: float | None


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def create_key(name: str, rate_per_min: float | None = None) -> str:
    """A new key for `name`; returns the key itself, which is stored nowhere (only its hash)."""
    if not _NAME.match(name):
        raise KeyProblem(f"key name '{name}' must be 1-64 letters, digits, '_', '.', '@' or '-'")
    if rate_per_min is not None and rate_per_min <= 0:
        raise KeyProblem(f"rate limit must be above 0 requests per minute, got {rate_per_min}")
    key_id, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(32), secrets.token_hex(16)
    with store.transaction(immediate=True) as db:
        if db.execute("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
            raise KeyProblem(f"an active key named '{name}' exists; revoke it first or pick another name")
        db.execute(
            "INSERT INTO api_keys (key_id, name, salt, hash, rate_per_min, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, name, salt, _digest(salt, secret), rate_per_min, time.time()),
        )
    return f"{PREFIX}{key_id}-{secret}"


def list_keys() -> list[dict]:
    with store.connect() as db:
        rows = db.execute(
            "SELECT key_id, name, rate_per_min, created_at, revoked_at FROM api_keys ORDER BY created_at"
        ).fetchall()
    return [dict(r) for r in rows]


def revoke_key(name_or_id: str) -> int:
    """Revoke the active key(s) with this name or id; returns how many were revoked."""
    with store.transaction(immediate=True) as db:
        cur = db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE (name = ? OR key_id = ?) AND revoked_at IS NULL",
            (time.time(), name_or_id, name_or_id),
        )
    if cur.rowcount == 0:
        raise KeyProblem(f"no active key named '{name_or_id}'; see `finetune-assistant keys list`")
    return cur.rowcount


def _split(key: str) -> tuple[str, str] | None:
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("-")
    return (key_id, secret) if sep and key_id and secret else None


class KeyCache:
    """The active keys in memory; `check(key)` returns the key's record or None, without touching SQLite
    except for a reload every `refresh_s` and one indexed read for an id it has not seen yet.

    The gateway calls `start()` (a thread then reloads every `refresh_s`) and checks each request with
    `check_cached`, which never touches SQLite: it answers the record, None, or MISS for an id to look up
    with `check` in a worker thread."""

    def __init__(self, refresh_s: float = 1.0):
        self.refresh_s = refresh_s
        self._keys: dict[str, KeyRecord] = {}
        self._loaded_at = float("-inf")
        self._missing: dict[str, float] = {}  # made-up ids, when last looked up
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.reload()
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh, name="key-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _refresh(self) -> None:
        db = None  # one connection for the thread's life: opening one each second costs more than the read
        try:
            while not self._stop.wait(self.refresh_s):
                try:
                    db = db or store.open_db()
                    self.reload(db)
                except Exception as exc:  # noqa: BLE001 - a locked or missing store: keep the last keys, try again
                    print(f"key cache: reload failed, keeping the last keys: {exc}", flush=True)
                    if db is not None:
                        db.close()
                    db = None
        finally:
            if db is not None:
                db.close()

    def check_cached(self, key: str | None) -> KeyRecord | None | object:
        """The key's record, None (not a valid key), or MISS (an id not in memory: call `check`)."""
        parts = _split(key or "")
        if parts is None:
            return None
        key_id, secret = parts
        record = self._keys.get(key_id)
        if record is None:
            return None if time.monotonic() - self._missing.get(key_id, float("-inf")) < 0.25 else MISS
        return record if hmac.compare_digest(record.hash, _digest(record.salt, secret)) else None

    def reload(self, db=None) -> None:
        if db is None:
            with store.connect() as own:
                return self.reload(own)
        rows = db.execute("SELECT key_id, name, salt, hash, rate_per_min FROM api_keys WHERE revoked_at IS NULL").fetchall()
        with self._lock:
            self._keys = {r["key_id"]: KeyRecord(**dict(r)) for r in rows}
            self._loaded_at = time.monotonic()

    def check(self, key: str | None) -> KeyRecord | None:
        parts = _split(key or "")
        if parts is None:
            return None
        key_id, secret = parts
        if self._thread is None and time.monotonic() - self._loaded_at > self.refresh_s:
            self.reload()
        record = self._keys.get(key_id) or self._lookup(key_id)
        if record is None or not hmac.compare_digest(record.hash, _digest(record.salt, secret)):
            return None
        return record

    def _lookup(self, key_id: str) -> KeyRecord | None:
        """A key created since the last reload works at once: one indexed read by its id. A made-up id is
        remembered as missing for a quarter second, so a flood of them costs at most four reads a second each."""
        now = time.monotonic()
        with self._lock:
            if now - self._missing.get(key_id, float("-inf")) < 0.25:
                return None
        with store.connect() as db:
            row = db.execute("SELECT key_id, name, salt, hash, rate_per_min FROM api_keys "
                             "WHERE key_id = ? AND revoked_at IS NULL", (key_id,)).fetchone()  # fmt: skip
        with self._lock:
            if row is None:
                if len(self._missing) > 4096:  # bounded: made-up ids must not grow memory
                    self._missing.clear()
                self._missing[key_id] = now
                return None
            record = KeyRecord(**dict(row))
            self._keys[key_id] = record
            return record
