"""The last analysis, kept in memory so `prepare_data` right after `inspect_data` on the same source
and spec does not redo it: the agent and the UI always inspect first, then prepare.

Never stale: the key holds the source as given, the size, mtime, ctime, inode and SHA-256 of every
file it covers (a folder: every file under it), and the spec without the fields only the writing
uses, so an edited, replaced or touched file, or any other spec, misses. The hash is there because
file times tick coarsely (a rewrite of the same size within a few milliseconds keeps them); it
costs about a tenth of a second per 70 MB, against tens of seconds for the analysis. Only one entry
is kept: its spool file on disk holds the whole dataset's cleaned records (it is deleted with the entry).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from tools.data.load import DATA_EXT

# Spec fields that only choose the train/validation split at writing time; the analysis ignores them.
WRITE_ONLY_FIELDS = {"val_fraction", "seed"}
_READ_EXT = DATA_EXT | {".arrow"}  # the files the loader reads (.arrow: saved `datasets` folders)
_lock = threading.Lock()  # the UI serves several users from one process
_last: tuple[tuple, Any] | None = None


def key(source: str, spec: Any) -> tuple | None:
    """What the analysis of `source` with `spec` depends on; None (do not cache) when the source is
    missing, unreadable or not a dataset file: the pipeline reports those, and a 5 GB model file given
    by mistake must not be hashed first."""
    try:
        path = Path(source).expanduser().resolve()
        if path.is_dir():
            stamps = tuple(_stamp(p) for p in [path, *sorted(p for p in path.rglob("*") if p.is_file())])
        elif path.is_file() and path.suffix.lower() in DATA_EXT:
            stamps = (_stamp(path),)
        else:
            return None
        if getattr(spec, "validation_file", None):
            stamps += (_stamp(Path(spec.validation_file).expanduser().resolve()),)
    except OSError:
        return None
    return (source, stamps, spec.model_dump_json(exclude=WRITE_ONLY_FIELDS))


def _stamp(path: Path) -> tuple:
    st = path.stat()
    stamp = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if path.is_file() and path.suffix.lower() in _READ_EXT:  # other files in a folder count by name only
        with path.open("rb") as fh:
            stamp += (hashlib.file_digest(fh, "sha256").hexdigest(),)
    return stamp


def get(cache_key: tuple | None) -> Any:
    with _lock:
        if cache_key is None or _last is None or _last[0] != cache_key:
            return None
        return _last[1]


def put(cache_key: tuple | None, value: Any) -> None:
    global _last
    if cache_key is not None:
        with _lock:
            _last = (cache_key, value)


def clear() -> None:
    global _last
    with _lock:
        _last = None
