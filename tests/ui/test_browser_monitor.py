"""The Monitor tab in a real browser, over traffic a real deployment logged (tiny model, transformers engine):
requests to two adapters with a canary split and to the base, refused keys, thumbs and a correction, and the
background bias probes. Screenshots land in test-artifacts/browser/monitor-*.png."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.tools._deploy_fixtures import TRAIN_ROWS, ModuleHome, make_runs
from tools.deploy import keys
from tools.deploy.service import DeployConfig, start_deployment

pytestmark = pytest.mark.browser

PROBES = {"dimensions": {"gender": {"female": ["Emily", "Aisha"], "male": ["James", "Omar"]}},
          "templates": [{"dimension": "gender", "text": "Should {value} get a discount?"}]}  # fmt: skip
OFF_TOPIC = ["Write me a haiku about quantum llamas", "What is the capital of Atlantis?",
             "My email is jane.doe@example.com, can you book me a bike?"]  # fmt: skip


def _make_traffic(tiny_model_dir, tmp_path) -> int:
    """Requests, feedback and bias probes through a real gateway into the current data dir; returns the
    number of requests sent (refused ones included)."""
    run_a, run_b = make_runs(tmp_path / "runs", tiny_model_dir)
    probe_file = tmp_path / "probes.yaml"
    probe_file.write_text(yaml.safe_dump(PROBES))
    dep = start_deployment(DeployConfig(runs=[str(run_a), str(run_b)], backend="transformers", port=0,
                                        split="run-a:run-b=50", rate_per_min=100_000,
                                        bias_probe_file=str(probe_file), bias_max_tokens=6))  # fmt: skip
    try:
        auth = {"Authorization": f"Bearer {keys.create_key('browser-test')}"}
        prompts = [("run-a", q) for q, _ in TRAIN_ROWS] * 2 + [("base", q) for q in OFF_TOPIC]
        ids = []
        for model, prompt in prompts:
            body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8}
            resp = httpx.post(f"{dep.url}/v1/chat/completions", json=body, headers=auth, timeout=120)
            ids.append(resp.headers["x-completion-id"])
        for _ in range(2):
            httpx.post(f"{dep.url}/v1/chat/completions", json={"model": "base", "messages": []},
                       headers={"Authorization": "Bearer fa-nope-nope"})  # fmt: skip
        dep.log.flush()
        for i, cid in enumerate(ids):
            rating = "down" if i % 4 == 0 else "up"
            extra = {"comment": "wrong price", "correction": "A day rental costs 35 euros."} if i == 1 else {}
            fb = httpx.post(f"{dep.url}/v1/feedback", json={"id": cid, "rating": rating, **extra}, headers=auth)
            assert fb.status_code == 200, fb.text
        dep.probes_thread.join(timeout=120)
    finally:
        dep.stop()
    return len(prompts) + 2


def test_monitor_tab_shows_traffic_feedback_drift_and_bias(app_url, browser, shot, tiny_model_dir, tmp_path):
    url, home = app_url
    with ModuleHome(home):  # the running app reads this data dir's store
        sent = _make_traffic(tiny_model_dir, tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#chat-input textarea")
    page.get_by_role("tab", name="Monitor").click()
    page.wait_for_function(f"document.querySelector('#monitor-summary').innerText.includes('{sent} requests')",
                           timeout=60_000)  # fmt: skip
    summary = page.inner_text("#monitor-summary")
    assert "2 errors" in summary and "feedback: 8 up, 3 down" in summary
    assert {"base", "run-a"} <= set(page.inner_text("#monitor-models").split())  # run-b too, unless no draw went there
    signals = page.inner_text("#monitor-signals")
    assert "Mean distance to the nearest training prompt" in signals and "vs run-a: thumbs-up rate difference" in signals
    assert "Bias probes" in signals and "run-a: 4 probes, when first deployed" in signals
    page.wait_for_selector("#monitor-flagged table")
    # The whole tab in one tall viewport: a full-page capture of a short one redraws Gradio's tab bar mid-shot.
    page.set_viewport_size({"width": 1400, "height": page.evaluate("document.body.scrollHeight")})
    page.wait_for_timeout(1000)  # the plots draw after their data arrives
    # Each tab is named once in the bar (a stray component among the tabs repeated the selected one).
    labels = [t.strip() for t in page.locator("#tabs [role=tab]:visible").all_inner_texts()]
    assert labels == ["Chat", "Data", "Train", "Compare", "Runs", "Monitor"], labels
    first = shot(page, "monitor-1-tab")
    page.locator("#monitor-signals").screenshot(path=str(first.parent / "monitor-2-signals.png"))
