"""Conversation ids issued and signed by the server, never taken on the client's word.

The browser keeps its conversation id (so a reload or an app restart keeps the chat), but whatever comes
back from a browser is an input like any other: an API client can send any string. So the server issues
`<32 hex>.<HMAC>` with a key private to the data dir (`session.key`, 0600); a callback gets the thread id
only from a value that verifies, and a forged, unsigned or malformed one is replaced by a fresh id. The
thread id is 32 hex digits, so it can't name a folder outside the data dir either. With logins, the
signature also covers the user name: an id issued to one user is not valid for another (M2).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

from tools import paths

_FORMAT = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})$")
_KEY_LOCK = threading.Lock()


class SessionError(PermissionError):
    """A conversation id that the server did not issue."""


def _key_path() -> Path:
    return paths.home() / "session.key"


def _key() -> bytes:
    path = _key_path()
    with _KEY_LOCK:
        if not path.is_file():
            # Private (0600) from its first byte, under a unique name, then renamed: never readable half-written.
            fd, tmp = tempfile.mkstemp(prefix=".session.", dir=path.parent)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            os.replace(tmp, path)
        return path.read_text().strip().encode()


def _mac(thread_id: str, owner: str | None) -> str:
    # No owner (no logins): the thread id alone, so ids issued before logins existed stay valid.
    message = thread_id if owner is None else f"{thread_id}\x00{owner}"
    return hmac.new(_key(), message.encode(), hashlib.sha256).hexdigest()[:32]


def issue(owner: str | None = None) -> str:
    """A fresh signed conversation id for a browser to keep (for the logged-in `owner`, if any)."""
    thread_id = uuid.uuid4().hex
    return f"{thread_id}.{_mac(thread_id, owner)}"


def thread_of(value: str | None, owner: str | None = None) -> str | None:
    """The thread id inside a signed value, or None if the server did not issue it (to this owner)."""
    match = _FORMAT.match(value or "")
    if not match or not hmac.compare_digest(match.group(2), _mac(match.group(1), owner)):
        return None
    return match.group(1)


def require(value: str | None, owner: str | None = None) -> str:
    """The thread id of `value`, or SessionError telling the user to reload (which issues a new one)."""
    thread_id = thread_of(value, owner)
    if thread_id is None:
        raise SessionError("This conversation id was not issued by this app; reload the page to start a new one.")
    return thread_id


class BoundedDict(OrderedDict):
    """A dict that forgets its least recently used keys beyond `limit` (per-session maps stay bounded)."""

    def __init__(self, limit: int = 1024):
        super().__init__()
        self.limit = limit

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)
