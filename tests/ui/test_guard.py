"""The access guard in front of Gradio (H3, M5): Host, Origin and the per-start token, on a bare ASGI app."""

import pytest
from starlette.testclient import TestClient

from ui.app import LoginLimiter, allowed_hosts, start_url
from ui.guard import TOKEN_HEADER, AccessGuard, AccessPolicy, host_name

TOKEN = "s3cret-token"


async def _ok(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def _client(policy: AccessPolicy, host: str = "127.0.0.1:7860") -> TestClient:
    return TestClient(AccessGuard(_ok, policy), base_url=f"http://{host}")


def _policy(**kw) -> AccessPolicy:
    return AccessPolicy(**{"port": 7860, "token": TOKEN, **kw})


def test_no_token_is_refused_and_the_token_sets_a_strict_httponly_cookie():
    with _client(_policy()) as client:
        assert (client.get("/gradio_api/info")).status_code == 401
        first = client.get(f"/?token={TOKEN}")
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "finetune-assistant-token-7860=" in cookie
        # The browser keeps the cookie: later requests need no token in the URL.
        assert (client.get("/gradio_api/info")).status_code == 200
        assert (client.get("/x", headers={TOKEN_HEADER: TOKEN}, cookies={})).status_code == 200


def test_a_wrong_token_or_cookie_is_refused():
    with _client(_policy()) as client:
        assert (client.get("/?token=guess")).status_code == 401
        client.cookies.set("finetune-assistant-token-7860", "guess")
        assert (client.get("/")).status_code == 401


@pytest.mark.parametrize("host", ["attacker.example:7860", "attacker.example", "192.0.2.1:7860"])
def test_a_foreign_host_header_is_refused_even_with_the_token(host):
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, so the Host header names the attacker."""
    with _client(_policy(), host=host) as client:
        assert (client.get(f"/gradio_api/info?token={TOKEN}")).status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860"])
def test_loopback_names_are_accepted(host):
    with _client(_policy(), host=host) as client:
        assert (client.get(f"/?token={TOKEN}")).status_code == 200


def test_a_cross_origin_request_is_refused_and_no_origin_is_echoed():
    with _client(_policy()) as client:
        evil = client.post(f"/gradio_api/queue/join?token={TOKEN}", headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
        preflight = client.options("/gradio_api/queue/join", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 403
        same = client.post(f"/x?token={TOKEN}", headers={"Origin": "http://127.0.0.1:7860"})
        assert same.status_code == 200
        assert (client.post(f"/x?token={TOKEN}", headers={"Origin": "null"})).status_code == 403


def test_no_token_mode_still_checks_the_host():
    with _client(_policy(token=None)) as client:
        assert (client.get("/")).status_code == 200
    with _client(_policy(token=None), host="evil.example") as client:
        assert (client.get("/")).status_code == 403


def test_host_names_and_the_start_line():
    assert host_name("[::1]:7860") == "::1" and host_name("LocalHost:1") == "localhost"
    assert host_name("http://a.example:9/x") == "a.example"
    assert "10.0.0.5" in allowed_hosts("10.0.0.5") and "evil.example" not in allowed_hosts("10.0.0.5")
    assert start_url("127.0.0.1", 7860, "abc") == "http://127.0.0.1:7860/?token=abc"
    assert start_url("0.0.0.0", 7860, None) == "http://127.0.0.1:7860/"


def test_login_attempts_are_braked_after_five_failures():
    login = LoginLimiter(("ann", "right"), max_failures=5, window_s=60)
    assert login("ann", "right")
    assert not any(login("ann", f"guess{i}") for i in range(5))
    assert not login("ann", "right"), "locked for the rest of the window, even with the right password"
    login._failures = [t - 120 for t in login._failures]  # the window has passed
    assert login("ann", "right")


def test_several_users_log_in_each_with_their_own_password():
    login = LoginLimiter({"ann": "a-pw", "bob": "b-pw"})
    assert login("ann", "a-pw") and login("bob", "b-pw")
    assert not login("ann", "b-pw") and not login("eve", "a-pw") and not login("eve", "\x00a-pw")


def test_a_login_expires_after_its_hours_and_the_browser_must_log_in_again(monkeypatch):
    import gradio as gr
    from gradio.routes import App

    from ui.app import GuardedApp
    from ui.guard import ExpiringTokens

    monkeypatch.setenv("FINETUNE_ASSISTANT_LOGIN_HOURS", "2")
    with gr.Blocks() as demo:
        gr.Markdown("hi")
    demo.auth = LoginLimiter(("ann", "pw"))  # what launch(auth=...) sets, without opening a port
    app = App.create_app(demo, app=GuardedApp(_policy()))
    try:
        now = [1000.0]
        assert isinstance(app.tokens, ExpiringTokens) and app.tokens.ttl_s == 7200
        app.tokens._clock = lambda: now[0]
        client = TestClient(app, base_url="http://127.0.0.1:7860", headers={TOKEN_HEADER: TOKEN})
        assert client.post("/login", data={"username": "ann", "password": "pw"}).status_code == 200
        assert client.get("/gradio_api/user").json() == "ann"
        now[0] += 7199
        assert client.get("/gradio_api/user").json() == "ann", "within the two hours"
        now[0] += 2
        assert client.get("/gradio_api/user").json() is None, "expired: Gradio reads no user, so it shows its login page"
        assert len(app.tokens) == 0, "and the expired session is dropped"
        assert client.post("/login", data={"username": "ann", "password": "pw"}).status_code == 200
        assert client.get("/gradio_api/user").json() == "ann"
    finally:
        demo.close()


def test_a_bad_login_hours_setting_says_what_to_write(monkeypatch):
    from ui.guard import login_ttl_s

    monkeypatch.setenv("FINETUNE_ASSISTANT_LOGIN_HOURS", "a day")
    with pytest.raises(ValueError, match="'a day' is not a number of hours"):
        login_ttl_s()


def test_logging_out_everywhere_skips_expired_sessions():
    """Gradio's /logout?all_session=true walks keys() and reads each token: an expired one must not be listed."""
    from ui.guard import ExpiringTokens

    now = [0.0]
    tokens = ExpiringTokens(60, clock=lambda: now[0])
    tokens["old"] = "ann"
    now[0] = 30
    tokens["new"] = "ann"
    now[0] = 61  # "old" expired, "new" still valid
    for token in list(tokens.keys()):  # what Gradio's logout does
        if tokens[token] == "ann":
            del tokens[token]
    assert len(tokens) == 0 and "new" not in tokens
