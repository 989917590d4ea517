"""Where the app keeps its state: models, prepared data, runs, uploads and the SQLite store.

Everything lives under one data dir, `~/.cache/finetune-assistant` by default, overridden by
`FINETUNE_ASSISTANT_HOME`. Functions (not constants) so tests can point it elsewhere per test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_HOME = "FINETUNE_ASSISTANT_HOME"


def home() -> Path:
    root = os.environ.get(ENV_HOME) or Path.home() / ".cache" / "finetune-assistant"
    path = Path(root).expanduser()
    if not path.is_dir():
        # Owner only (M3): raw uploads, chats and votes live here, and shared GPU servers have other users.
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def make_private() -> Path:
    """Make the data dir owner-only (0700) and everything this process creates from now on 0600/0700.

    The app calls it at start: an older data dir made with the default umask (0755) becomes private too,
    and files that libraries create (SQLite's databases and their -wal files, Gradio's uploads) inherit it.
    """
    os.umask(0o077)
    root = home()
    if root.stat().st_uid == os.getuid():
        root.chmod(0o700)
    return root


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return subdir("models")


def runs_dir() -> Path:
    return subdir("runs")


def datasets_dir() -> Path:
    return subdir("datasets")


def uploads_dir(owner: str | None = None) -> Path:
    """`<data dir>/uploads`, or the folder of one logged-in user's uploads inside it (M2).

    The folder is named by a hash of the user name: a name is any string, a folder name must be safe."""
    root = subdir("uploads")
    if owner is None:
        return root
    folder = root / f"u-{hashlib.sha256(owner.encode()).hexdigest()[:16]}"
    folder.mkdir(exist_ok=True)
    return folder


def logs_dir() -> Path:
    return subdir("logs")


def db_path() -> Path:
    return home() / "app.db"


def inside_home(path: str | Path, root: str | Path | None = None) -> Path:
    """Resolve `path` and refuse it unless it lies inside `root` (default: the data dir). User-typed paths
    in the UI: inside the data dir, or, with logins, inside the user's own uploads folder."""
    root = Path(root).resolve() if root is not None else home().resolve()
    resolved = Path(path).expanduser().resolve()
    if resolved != root and root not in resolved.parents:
        where = "the app's data dir" if root == home().resolve() else "your own uploads"
        raise PermissionError(f"{path} is outside {where}; upload the file instead.")
    return resolved


@contextmanager
def atomic_dir(final: str | Path, replaces: str | None = None, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside `final`; rename it into place only if the block succeeds.

    A crash or an error leaves no half-written `final` behind. An existing `final` is replaced only when
    it is empty or holds `replaces` (the file that marks a folder we wrote, e.g. "report.json"): a
    user's folder given by mistake as an output is refused, never emptied. `keep_existing`: a `final`
    that appeared meanwhile (a content-addressed folder another writer finished first) stays, and ours goes.
    """
    final = Path(final)
    if final.exists() and any(final.iterdir()) and not (replaces and (final / replaces).exists()):
        raise FileExistsError(f"{final} already exists and holds other files; choose a new or empty folder "
                              "(nothing was changed).")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_existing:
        try:
            tmp.rename(final)  # fails when `final` is a folder with files: someone else's finished copy
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return
    if final.exists():
        # A unique name: two threads replacing the same folder must not trip over each other's old copy.
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        final.rename(old / final.name)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def is_partial_write(path: Path) -> bool:
    """A temp file `atomic_write_text` left behind when its process was killed before the rename."""
    return path.name.startswith(".") and ".tmp-" in path.name and path.is_file()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a file through a temp file and rename, so readers never see half of it.

    The data reaches the disk before the rename (fsync of the file, then of the folder), so a power loss
    leaves the old file or the new one, never an empty one; a failed write (a full disk) leaves no temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes it 0600, and it stays so (M3): the data dir is its owner's alone.
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


class DiskFullError(OSError):
    """Not enough free disk space for a write we can size beforehand (M4)."""


def ensure_free(folder: str | Path, need_bytes: float, what: str) -> None:
    """Refuse, before writing anything, a write of about `need_bytes` that the disk of `folder` can't hold,
    keeping a margin of 1% of the disk (at least 256 MB) so the databases can still be written."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    margin = max(256 * 2**20, usage.total // 100)
    if usage.free - margin < need_bytes:
        raise DiskFullError(
            f"not enough free disk space for {what}: about {need_bytes / 2**30:.1f} GB needed, "
            f"{max(0, usage.free - margin) / 2**30:.1f} GB free in {folder}; free some space (old runs, exports, "
            f"merged models) or move the data dir ({ENV_HOME}).")


def tree_bytes(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def free_port() -> int:
    """A free local TCP port (for a server, or the rendezvous of a multi-process run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


STALE_S = 24 * 3600


def sweep_stale(max_age_s: float = STALE_S) -> list[Path]:
    """Remove what interrupted atomic writes left behind (`.NAME.tmp-*`, `.NAME.old-*`) in the data dir's
    folders, once older than `max_age_s` (a younger one may belong to a write in progress). Returns them."""
    root = home()
    folders = [root, *(p for p in root.iterdir() if p.is_dir() and p.name != "models")]
    folders += [p for p in _children(runs_dir()) if p.is_dir()]
    now, removed = time.time(), []
    for folder in folders:
        for leftover in [*folder.glob(".*.tmp-*"), *folder.glob(".*.old-*")]:
            try:
                if now - leftover.lstat().st_mtime < max_age_s:
                    continue
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
            except OSError:
                continue
            removed.append(leftover)
    return removed


def _children(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []
