"""Child processes: allow-listed environment (L7), no cwd imports (L11), vLLM servers that die with the app or
are reaped at the next start (M6), and the GPU room decision between serving and training (H5), on CPU."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tools import paths
from tools.procs import PROJECT_ROOT, child_env, python_module
from tools.serve.server import MIN_SHARE, ServeConfig, VLLMServer, gpu_share, make_room, reap_stale_servers

SECRET_ENV = {"FINETUNE_ASSISTANT_AUTH": "ann:pw", "FINETUNE_ASSISTANT_TOKEN": "tok", "HF_TOKEN": "hf_secret",
              "FINETUNE_ASSISTANT_LLM_API_KEY": "sk-llm", "OPENAI_API_KEY": "sk-openai", "AWS_SECRET_ACCESS_KEY": "x",
              "PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/hf"}


def test_children_get_an_allow_listed_environment_without_secrets():
    env = child_env(base=SECRET_ENV)
    assert not {"FINETUNE_ASSISTANT_AUTH", "FINETUNE_ASSISTANT_TOKEN", "HF_TOKEN", "FINETUNE_ASSISTANT_LLM_API_KEY",
                "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert env["PATH"] == "/usr/bin" and env["CUDA_VISIBLE_DEVICES"] == "0" and env["HF_HOME"] == "/hf"
    hub = child_env(hub=True, base=SECRET_ENV)
    assert hub["HF_TOKEN"] == "hf_secret" and "FINETUNE_ASSISTANT_AUTH" not in hub


def test_the_vllm_server_gets_its_api_key_in_the_environment_not_on_the_command_line(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("FINETUNE_ASSISTANT_AUTH", "ann:pw")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    server = VLLMServer(ServeConfig(base=str(tiny_model_dir)))
    command, env = server.command(), server.env()
    assert env["VLLM_API_KEY"] == server.api_key and server.api_key not in " ".join(command)
    assert "FINETUNE_ASSISTANT_AUTH" not in env and "HF_TOKEN" not in env
    assert command[1:3] == ["-P", "-m"]
    assert VLLMServer(ServeConfig(base=str(tiny_model_dir))).api_key != server.api_key, "a key per start"
    no_lora = VLLMServer(ServeConfig(base=str(tiny_model_dir), runtime_lora=False)).env()
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in no_lora


def test_a_child_does_not_import_our_packages_from_a_planted_cwd(tmp_path):
    """L11: a world-writable folder holding a fake `tools/` must not win over ours."""
    planted = tmp_path / "tools"
    planted.mkdir()
    (planted / "__init__.py").write_text("raise SystemExit('planted code ran')\n")
    (planted / "procs.py").write_text("raise SystemExit('planted code ran')\n")
    out = subprocess.run([*python_module("tools.procs")], cwd=tmp_path, env=child_env(), capture_output=True,
                         text=True, timeout=60)
    assert "planted" not in out.stdout + out.stderr and out.returncode == 0
    check = subprocess.run([*python_module("tools.procs")[:2], "-c", "import tools; print(tools.__file__)"],
                           cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60)
    assert check.stdout.strip().startswith(str(PROJECT_ROOT))


def _sleeper(port: int) -> list[str]:
    # Its command line looks like a vLLM server on `port`, which is what the reaper checks.
    return [sys.executable, "-c", "import time; time.sleep(120)", "vllm.entrypoints.openai.api_server", "--port", str(port)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_a_server_left_by_a_killed_app_is_reaped_at_the_next_start():
    orphan = subprocess.Popen(_sleeper(45678), start_new_session=True)
    bystander = subprocess.Popen(_sleeper(45679), start_new_session=True)  # no pid file: not ours to kill
    try:
        (paths.logs_dir() / "vllm-45678.pid").write_text(f"{orphan.pid}\n")
        (paths.logs_dir() / "vllm-45680.pid").write_text(f"{bystander.pid}\n")  # wrong port: a reused pid
        assert reap_stale_servers(timeout=5) == [orphan.pid]
        orphan.wait(10)
        assert _alive(bystander.pid)
        assert not list(paths.logs_dir().glob("vllm-*.pid"))
    finally:
        for proc in (orphan, bystander):
            proc.kill()
            proc.wait()


def test_a_server_dies_with_the_app_even_on_kill_9(tmp_path):
    """M6: the app starts the server from a short-lived worker thread (as Gradio does), then is SIGKILLed."""
    script = textwrap.dedent(f"""
        import subprocess, sys, threading
        from tools.serve.server import _SPAWNER
        box = []
        t = threading.Thread(target=lambda: box.append(_SPAWNER.popen({_sleeper(45681)!r}, start_new_session=True)))
        t.start(); t.join()  # the worker thread is gone before the app dies
        print(box[0].pid, flush=True)
        import time; time.sleep(120)
    """)
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                           env=child_env())
    server_pid = int(app.stdout.readline())
    try:
        time.sleep(1.0)
        assert _alive(server_pid), "the server must survive its worker thread's exit"
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        deadline = time.time() + 10
        while _alive(server_pid) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the server outlived the app"
    finally:
        try:
            os.kill(server_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_vllm_leaves_room_for_training_when_it_starts():
    assert gpu_share(total_gb=80, free_gb=80) == pytest.approx((80 - 40 - 1) / 80, abs=1e-3)
    # A run already trains (30 GB in use): vLLM takes what is left after the reserve, never below the floor.
    assert gpu_share(total_gb=80, free_gb=50) == pytest.approx((50 - 40 - 1) / 80, abs=1e-3)
    assert gpu_share(total_gb=24, free_gb=4) == MIN_SHARE
    assert gpu_share(total_gb=0, free_gb=0) == 0.9  # no GPU figures: vLLM's CPU build ignores it


@pytest.mark.parametrize(("free", "run", "server", "weights", "action"), [
    (40, 20, 36, 3, "keep"),     # the run fits in what is free
    (10, 20, 36, 3, "shrink"),   # fits once the server gives back 11 GB; it keeps 25 GB, enough for its weights
    (10, 20, 12, 12, "stop"),    # giving back would leave the server less than its weights
    (2, 60, 36, 3, "stop"),      # even a stopped server leaves too little: stop anyway, and say so
    (10, 20, 36, 0, "stop"),     # weights unknown: no shrink guess
])
def test_the_room_decision_before_a_run(free, run, server, weights, action):
    decision = make_room(total_gb=80, free_gb=free, run_gb=run, server_gb=server, server_min_gb=weights)
    assert decision.action == action, decision.reason
    if action == "shrink":
        assert decision.share * 80 + run + 1 <= free + server + 1e-6
    if run == 60:
        assert "too little" in decision.reason


class _GpuEngine:
    """A serving engine that reserved `gb` of an 80 GB GPU (what VLLMBackend reports)."""

    def __init__(self, gb, weights=3.0):
        self.gb, self.weights, self.closed = gb, weights, False

    def gpu_footprint(self, total_gb):
        return self.gb, self.weights

    def alive(self):
        return not self.closed

    def close(self):
        self.closed = True

    def models(self):
        return {}


def test_the_queue_hook_stops_or_shrinks_the_server_and_the_next_open_uses_the_smaller_share():
    from tools.serve.shared import SharedBackends

    opened = []

    def opener(base, adapters, backend, serve=None):
        opened.append(serve)
        return _GpuEngine(36)

    pool = SharedBackends(opener=opener, memory=lambda: (80.0, 10.0))
    engine = pool.get("default", backend="vllm")
    assert pool.holds_gpu()
    [decision] = pool.before_run_starts(20.0)
    assert decision.action == "shrink" and engine.closed and not pool.holds_gpu()
    pool.get("default", backend="vllm")
    assert opened[-1].gpu_memory_utilization == decision.share
    assert pool.before_run_starts(5.0)[0].action == "keep"
