"""The running app (a subprocess, as `finetune-assistant ui` starts it) refuses what the security review found open.

One start serves every check here: H3 (foreign Host, no token), M5 (CORS echo), H2/L9 (run history and MCP
routes gone), M3 (data dir and databases owner-only) and M1 (a forged conversation id is replaced).
"""

import stat
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.browser  # starts the whole app: as costly as the browser tests


@pytest.fixture
def running(start_app, tiny_model_dir):
    url, home = start_app(tiny_model_dir, env_extra={"GRADIO_MCP_SERVER": "true", "GRADIO_RUN_HISTORY": "true"})
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.query.split("token=", 1)[1], home


def test_the_running_app_answers_only_its_own_host_with_the_token(running):
    base, token, _ = running
    assert httpx.get(f"{base}/gradio_api/info").status_code == 401
    assert httpx.get(f"{base}/config").status_code == 401
    assert httpx.get(f"{base}/gradio_api/info?token={token}").status_code == 200
    rebinding = httpx.get(f"{base}/gradio_api/info?token={token}", headers={"Host": f"attacker.example:{urlsplit(base).port}"})
    assert rebinding.status_code == 403
    with httpx.Client() as browser:
        assert browser.get(f"{base}/?token={token}").status_code == 200
        assert browser.get(f"{base}/gradio_api/info").status_code == 200, "the cookie set on the first visit is enough"


def test_no_cross_origin_echo_no_run_history_no_mcp(running):
    base, token, _ = running
    preflight = httpx.options(f"{base}/gradio_api/queue/join", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST", "x-finetune-assistant-token": token})
    assert preflight.headers.get("access-control-allow-origin") != "https://evil.example"
    headers = {"x-finetune-assistant-token": token}
    config = httpx.get(f"{base}/config", headers=headers).json()
    assert config.get("run_history") is False, "GRADIO_RUN_HISTORY=true in the environment must not turn it on"
    assert httpx.get(f"{base}/gradio_api/run-history/buckets", headers=headers).status_code in (404, 405)
    assert httpx.get(f"{base}/gradio_api/mcp/sse", headers=headers).status_code == 404
    assert "max_file_size" in config and config["max_file_size"]


def test_the_data_dir_and_databases_are_owner_only(running):
    _, _, home = running
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("session.key", "app.db", "conversations.db"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{name} is readable by others"
