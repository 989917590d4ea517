"""The deployment gateway on the tiny model with the transformers engine: keys, limits, streaming, routing,
the request log, feedback and engine restarts. One deployment per module (loading the model is the slow part)."""

from __future__ import annotations

import concurrent.futures
import json
import random
import time

import httpx
import pytest

from tests.tools._deploy_fixtures import ModuleHome, make_runs
from tools import store
from tools.deploy import keys
from tools.deploy.keys import MISS, KeyCache
from tools.deploy.routing import choose, parse_split
from tools.deploy.service import DeployConfig, start_deployment
from tools.deploy.traffic import Exchange, TrafficLog
from tools.monitor import bias


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with ModuleHome(tmp_path_factory.mktemp("deploy-home")) as path:
        yield path


@pytest.fixture
def app_home(home):  # overrides the per-test data dir: the deployment and the tests share one store
    return home


@pytest.fixture(scope="module")
def deployment(home, tiny_model_dir, tmp_path_factory):
    run_a, run_b = make_runs(tmp_path_factory.mktemp("runs"), tiny_model_dir)
    config = DeployConfig(runs=[str(run_a), str(run_b)], backend="transformers", port=0, split="run-a:run-b=30",
                          rate_per_min=100_000, bias_probes=False)  # fmt: skip
    dep = start_deployment(config)
    dep.engine.check_every_s = 0.2
    yield dep
    dep.stop()


@pytest.fixture(scope="module")
def key(deployment):
    return keys.create_key("tester")


def _chat(url, key, model="run-a", stream=False, content="Hi", max_tokens=4, **extra):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "stream": stream, **extra}  # fmt: skip
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def _traffic(where: str = "1=1", args=()) -> list[dict]:
    with store.connect() as db:
        return [dict(r) for r in db.execute(f"SELECT * FROM traffic WHERE {where}", args).fetchall()]


def test_requests_without_a_valid_key_get_401_in_openai_shape(deployment, key):
    for bad in (None, "fa-nope-nope", key[:-2] + "xx"):
        resp = _chat(deployment.url, bad)
        assert resp.status_code == 401, bad
        assert resp.json()["error"]["code"] == "invalid_api_key"
    deployment.log.flush()
    refused = _traffic("status = 401")
    assert len(refused) >= 3 and all(r["key_name"] is None and r["prompt"] == "" for r in refused)
    resp = _chat(deployment.url, key)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["role"] == "assistant"
    assert resp.headers["x-completion-id"].startswith("chatcmpl-")


def test_the_store_keeps_only_a_salted_hash_and_revoked_keys_stop_working(deployment):
    secret = keys.create_key("short-lived")
    with store.connect() as db:
        dump = json.dumps([dict(r) for r in db.execute("SELECT * FROM api_keys").fetchall()])
    assert secret not in dump and secret.split("-", 2)[2] not in dump
    assert _chat(deployment.url, secret).status_code == 200
    keys.revoke_key("short-lived")
    time.sleep(2.1)  # the gateway's key cache reloads every 2 s
    assert _chat(deployment.url, secret).status_code == 401


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(deployment):
    slow = keys.create_key("slow", rate_per_min=1)  # burst of one, then one a minute
    assert _chat(deployment.url, slow).status_code == 200
    resp = _chat(deployment.url, slow)
    assert resp.status_code == 429
    assert resp.json()["error"]["type"] == "rate_limit_error" and int(resp.headers["retry-after"]) >= 1


def test_health_and_models(deployment, key):
    health = httpx.get(f"{deployment.url}/health").json()
    assert health["status"] == "ok" and health["kind"] == "transformers"
    assert httpx.get(f"{deployment.url}/v1/models").status_code == 401
    listed = httpx.get(f"{deployment.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
    assert {m["id"] for m in listed["data"]} == {"base", "run-a", "run-b"}
    assert _chat(deployment.url, key, model="nope").status_code == 404


def test_streaming_passes_through_and_is_logged_whole(deployment, key):
    with httpx.stream("POST", f"{deployment.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "base", "messages": [{"role": "user", "content": "Stream please"}],
                            "max_tokens": 6, "stream": True}, timeout=120) as resp:  # fmt: skip
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        cid = resp.headers["x-completion-id"]
        events = [line for line in resp.iter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]" and len(events) >= 2
    text = "".join(json.loads(e[5:])["choices"][0]["delta"].get("content", "") for e in events[:-1])
    deployment.log.flush()
    (row,) = _traffic("completion_id = ?", (cid,))
    assert row["stream"] == 1 and row["answer"] == text and row["status"] == 200 and row["ttft_ms"] <= row["latency_ms"]


def test_fifty_concurrent_requests_are_all_answered_and_logged(deployment, key):
    before = len(_traffic())
    with concurrent.futures.ThreadPoolExecutor(50) as pool:  # all 50 in flight at once
        results = list(pool.map(lambda i: _chat(deployment.url, key, model="base", content=f"Question {i}"), range(50)))
    assert [r.status_code for r in results] == [200] * 50
    deployment.log.flush()
    ids = {r.headers["x-completion-id"] for r in results}
    logged = _traffic(f"completion_id IN ({','.join('?' * 50)})", tuple(ids))
    assert len(logged) == 50 and len(_traffic()) == before + 50
    assert all(r["key_name"] == "tester" and r["completion_tokens"] >= 1 and r["latency_ms"] > 0 for r in logged)
    assert {r["prompt"] for r in logged} == {f"Question {i}" for i in range(50)}


def test_prompts_and_answers_are_logged_with_pii_redacted(deployment, key):
    resp = _chat(deployment.url, key, content="Mail me at jane.doe@example.com or call +44 20 7946 0958")
    deployment.log.flush()
    (row,) = _traffic("completion_id = ?", (resp.headers["x-completion-id"],))
    assert "jane.doe" not in row["prompt"] and "[EMAIL]" in row["prompt"] and "[PHONE]" in row["prompt"]
    assert "jane.doe" not in row["messages"]


def test_feedback_is_recorded_for_the_keys_own_completions(deployment, key):
    resp = _chat(deployment.url, key)
    cid = resp.json()["id"]  # the engine's own id works as well as x-completion-id
    fb = httpx.post(f"{deployment.url}/v1/feedback", headers={"Authorization": f"Bearer {key}"},
                    json={"id": cid, "rating": "down", "comment": "wrong", "correction": "Better answer"})  # fmt: skip
    assert fb.status_code == 200, fb.text
    with store.connect() as db:
        row = dict(db.execute("SELECT * FROM feedback WHERE completion_id = ?", (resp.headers["x-completion-id"],)).fetchone())
    assert row["rating"] == "down" and row["correction"] == "Better answer" and row["key_name"] == "tester"
    other = keys.create_key("someone-else")
    assert httpx.post(f"{deployment.url}/v1/feedback", headers={"Authorization": f"Bearer {other}"},
                      json={"id": cid, "rating": "up"}).status_code == 404  # fmt: skip
    bad = httpx.post(f"{deployment.url}/v1/feedback", headers={"Authorization": f"Bearer {key}"}, json={"id": cid, "rating": "meh"})
    assert bad.status_code == 400 and "rating" in bad.json()["error"]["message"]


def test_the_request_log_loses_nothing_on_close_and_close_does_not_wait_for_the_linger(home):
    log = TrafficLog("close-test", linger_s=30.0)  # a batch would wait 30 s to fill, were it not for close()
    body = {"messages": [{"role": "user", "content": "Call me on +44 20 7946 0958"}], "max_tokens": 8}
    answer = json.dumps({"choices": [{"message": {"content": "Sure."}, "finish_reason": "stop"}]}).encode()

    def put(i):
        log.put(Exchange(completion_id=f"close-{i}", created_at=time.time(), key_name="k", requested_model="base",
                         model="base", route=None, request=body, status=200, latency_ms=1.0, response=answer))  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(300)))
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 10
    rows = _traffic("deployment_id = 'close-test'")
    assert len(rows) == 300 and all(r["prompt"] == "Call me on [PHONE]" and r["answer"] == "Sure." for r in rows)


def test_keys_are_checked_from_memory_and_unseen_ids_are_looked_up_once(home):
    secret = keys.create_key("memory-test")
    cache = KeyCache(refresh_s=60)
    cache.start()
    try:
        record = cache.check_cached(secret)
        assert record is not None and record is not MISS and record.name == "memory-test"
        assert cache.check_cached(secret[:-1] + ("x" if secret[-1] != "x" else "y")) is None  # wrong secret
        assert cache.check_cached(None) is None and cache.check_cached("not-a-key") is None
        later = keys.create_key("created-after-the-load")
        assert cache.check_cached(later) is MISS  # the gateway then calls check() in a worker thread
        assert cache.check(later).name == "created-after-the-load" and cache.check_cached(later).name == "created-after-the-load"
        assert cache.check_cached("fa-00000000-made-up") is MISS and cache.check("fa-00000000-made-up") is None
        assert cache.check_cached("fa-00000000-made-up") is None  # remembered as missing: no second read at once
    finally:
        cache.stop()


def test_split_routes_its_share_to_the_canary(deployment, key):
    results = [_chat(deployment.url, key, model="run-a", max_tokens=1) for _ in range(60)]
    deployment.log.flush()
    rows = _traffic(f"completion_id IN ({','.join('?' * 60)})", tuple(r.headers["x-completion-id"] for r in results))
    canary = sum(r["model"] == "run-b" and r["route"] == "canary" for r in rows)
    assert all(r["requested_model"] == "run-a" for r in rows)
    assert 6 <= canary <= 30  # 30% of 60 = 18; binomial sd 3.5, so +-3.4 sd


def test_split_parsing_and_shares():
    assert [s.model_dump() for s in parse_split("b=10", default_control="a")] == [{"control": "a", "canary": "b", "percent": 10}]
    for bad in ("b", "a:b=0", "a:b=100", "a:b=x", "a:b=5,a:c=5"):
        with pytest.raises(ValueError, match="split"):
            parse_split(bad, default_control="a")
    splits, rng = parse_split("a:b=25"), random.Random(0)
    share = sum(choose(splits, "a", rng)[0] == "b" for _ in range(10_000)) / 10_000
    assert abs(share - 0.25) < 0.02 and choose(splits, "c", rng) == ("c", None)


def test_a_dead_engine_is_restarted_and_reported(deployment, key):
    before = deployment.engine.restarts
    deployment.engine.simulate_crash()
    deadline = time.monotonic() + 120
    while deployment.engine.restarts == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert deployment.engine.restarts == before + 1
    while httpx.get(f"{deployment.url}/health").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{deployment.url}/health").json()["restarts"] == before + 1
    assert _chat(deployment.url, key).status_code == 200
    with store.connect() as db:
        kinds = [r["kind"] for r in db.execute("SELECT kind FROM deploy_events WHERE deployment_id = ?", (deployment.id,))]
    assert kinds[-2:] == ["died", "restarted"]


def test_bias_probes_run_through_the_gateway(deployment, key):
    probes = {"dimensions": {"gender": {"female": ["Emily"], "male": ["James"]}},
              "templates": [{"dimension": "gender", "text": "Should {value} get a discount?"}]}  # fmt: skip
    found = bias.run_probes(f"{deployment.url}/v1", "run-a", key, max_tokens=4, probes=probes)
    assert found["requests"] == 2 and set(found["dimensions"]["gender"]["groups"]) == {"female", "male"}
    groups = found["dimensions"]["gender"]["groups"]
    assert found["dimensions"]["gender"]["gaps"]["length_words"] == pytest.approx(
        abs(groups["female"]["length_words"] - groups["male"]["length_words"]))
