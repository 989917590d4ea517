"""Signed conversation ids (M1, L1), bounded per-session maps (L10), uploads stored once and within a size
limit (M4, H4's UI part), downloads cleaned up (M4), and kill -9 during an upload or an export (crash safety)."""

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tools import paths
from tools.procs import PROJECT_ROOT, child_env
from ui import sessions
from ui.services import UploadError, servable, store_upload, sweep_downloads, sweep_partial_uploads


def test_only_ids_the_server_signed_are_accepted():
    signed = sessions.issue()
    thread = sessions.thread_of(signed)
    assert thread and len(thread) == 32 and signed.startswith(thread)
    forged = thread + "." + "0" * 32
    for bad in (forged, thread, "..", "", None, "../../etc", signed + "x", sessions.issue().split(".")[0] + "." + signed.split(".")[1]):
        assert sessions.thread_of(bad) is None, bad
    with pytest.raises(sessions.SessionError, match="reload"):
        sessions.require("..")
    assert stat.S_IMODE((paths.home() / "session.key").stat().st_mode) == 0o600


def test_a_forged_id_gets_a_fresh_conversation_and_a_traversal_id_writes_nothing(tmp_path):
    from ui.callbacks import Callbacks
    from ui.services import AppConfig, Services

    cb = Callbacks(Services(AppConfig(llm="rules")))
    try:
        victim = sessions.issue()
        stolen = sessions.thread_of(victim)  # what a leaked card would show
        session, *_ = cb.restore(stolen)
        assert session != stolen and sessions.thread_of(session) is not None
        attached = tmp_path / "x.jsonl"
        attached.write_text('{"text": "hi"}\n')
        before = set(paths.home().iterdir())
        replies = list(cb.chat({"text": "hi", "files": [str(attached)]}, [], ".."))
        assert "not issued by this app" in replies[-1][0][-1]["content"]
        assert set(paths.home().iterdir()) == before and not list(paths.home().glob("*.jsonl"))
    finally:
        cb.s.close()


def test_per_session_maps_forget_the_oldest():
    seen = sessions.BoundedDict(limit=3)
    for i in range(10):
        seen[f"s{i}"] = i
    assert list(seen) == ["s7", "s8", "s9"]
    seen["s7"]  # recently used survives the next insert
    seen["s10"] = 10
    assert list(seen) == ["s9", "s7", "s10"]


def _gradio_temp(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / "gradio-tmp" / hashlib.sha1(os.urandom(8)).hexdigest()
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_an_upload_is_stored_once_under_its_content_hash(tmp_path):
    data = b'{"messages": []}\n' * 100
    first = store_upload(str(_gradio_temp(tmp_path, "chats.jsonl", data)))  # attached in chat
    second = store_upload(str(_gradio_temp(tmp_path, "chats.jsonl", data)))  # then inspected in the Data tab
    assert first == second and Path(first).read_bytes() == data
    assert Path(first).parent.name == hashlib.sha256(data).hexdigest()[:16]
    assert len(list(paths.uploads_dir().rglob("*.jsonl"))) == 1
    other = store_upload(str(_gradio_temp(tmp_path, "chats.jsonl", data + b"{}\n")))
    assert other != first, "same name, other content: its own folder, never an overwrite"


def test_an_upload_over_the_limit_is_refused_with_the_setting_to_change(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_ASSISTANT_MAX_UPLOAD_MB", "1")
    big = _gradio_temp(tmp_path, "big.jsonl", b"x" * (2 * 1024 * 1024))
    with pytest.raises(UploadError, match=r"big\.jsonl is 2 MB; the upload limit is 1 MB \(FINETUNE_ASSISTANT_MAX_UPLOAD_MB\)"):
        store_upload(str(big))
    assert not list(paths.uploads_dir().iterdir())


def test_downloads_are_links_and_old_ones_are_swept(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(paths.subdir("gradio-tmp")))
    source = paths.subdir("exports") / "votes.jsonl"
    source.write_text("{}\n")
    served = Path(servable(source))
    assert served.read_text() == "{}\n" and served.stat().st_ino == source.stat().st_ino, "no copy"
    old = served.parent
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    Path(servable(source))
    assert not old.exists(), "an hour-old download folder is removed when the next one is made"
    assert sweep_downloads(old.parent, max_age_s=0) >= 1


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, "the child finished before it could be killed; make its work bigger"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_kill_9_during_an_upload_leaves_no_half_written_file(tmp_path):
    # /dev/shm is another filesystem, so the upload is a real copy (no hard link), long enough to be killed.
    source = Path("/dev/shm") / f"upload-{os.getpid()}.jsonl"
    source.write_bytes(os.urandom(1024) * 400_000)  # ~400 MB
    try:
        script = f"from ui.services import store_upload; store_upload({str(source)!r})"
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                                env=child_env(extra={paths.ENV_HOME: str(paths.home())}))
        _kill_when(proc, lambda: any(p.stat().st_size > 0 for p in paths.uploads_dir().glob("*/.*.part-*")))
        finals = [p for p in paths.uploads_dir().rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert finals == [], "a killed upload must not leave a file under its final name"
        assert sweep_partial_uploads() == 1 and not list(paths.uploads_dir().rglob(".*"))
        stored = Path(store_upload(str(source)))  # nothing was lost: the user uploads again and it is whole
        assert stored.stat().st_size == source.stat().st_size
    finally:
        source.unlink(missing_ok=True)


def test_kill_9_during_an_export_leaves_no_half_written_zip(tmp_path):
    from tools.export.bundle import zip_output

    run = paths.runs_dir() / "r1"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    (run / "adapter" / "adapter_model.safetensors").write_bytes(os.urandom(1024) * 150_000)  # ~150 MB
    script = textwrap.dedent(f"""
        from tools.export.bundle import zip_output
        zip_output({str(run)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                            env=child_env(extra={paths.ENV_HOME: str(paths.home())}))
    _kill_when(proc, lambda: any(p.stat().st_size > 0 for p in (run / "exports").glob(".zip-*/*.zip")))
    assert not (run / "exports" / "r1-adapter.zip").exists()
    archive = zip_output(run)  # the next export sweeps the dead one's leftovers and completes
    assert archive.is_file() and [p.name for p in (run / "exports").iterdir()] == ["r1-adapter.zip"]
