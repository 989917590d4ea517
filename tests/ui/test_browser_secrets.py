"""H2: a Hugging Face token typed into the Runs tab is used for the push and kept nowhere: not in the browser's
localStorage, sessionStorage, cookies or IndexedDB (Gradio's run history is off), and in no file the app wrote."""

import json

import pytest

from tools import paths
from tools.train import runs

pytestmark = pytest.mark.browser

TOKEN = "hf_NeverStoreMe0123456789abcdefXYZ"

_DUMP_INDEXEDDB = """async () => {
  const out = [];
  for (const info of (await indexedDB.databases())) {
    const db = await new Promise((ok, bad) => { const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = bad; });
    for (const store of db.objectStoreNames) {
      const rows = await new Promise(ok => { const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => ok(r.result); });
      out.push(JSON.stringify(rows));
    }
  }
  return out.join("\\n");
}"""


def _seed_finished_run(home, monkeypatch):
    monkeypatch.setenv(paths.ENV_HOME, str(home))
    run_dir = paths.runs_dir() / "r-push"
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"w")
    (run_dir / "README.md").write_text("# r-push\n")
    runs.upsert("r-push", run_dir=str(run_dir), status="completed", base_model="default")


def test_a_pushed_token_persists_nowhere(start_app, tiny_model_dir, browser, monkeypatch, tmp_path):
    # Nothing listens on port 9: the push fails fast, offline, after the token was really used.
    url, home = start_app(tiny_model_dir, env_extra={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"})
    _seed_finished_run(home, monkeypatch)
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#chat-input textarea")
    page.get_by_role("tab", name="Runs").click()
    page.reload()  # the runs list is read on page load
    page.wait_for_selector("#chat-input textarea")
    page.get_by_role("tab", name="Runs").click()
    page.click("#runs-pick input")
    page.get_by_role("option", name="r-push").click()
    page.fill("#hub-repo textarea, #hub-repo input", "me/bot")
    page.fill("#hub-token input", TOKEN)
    page.click("#push")
    page.wait_for_function("document.querySelector('#action-result').innerText.includes('Could not push')",
                           timeout=60_000)
    page.wait_for_function("document.querySelector('#hub-token input').value === ''", timeout=10_000)
    assert TOKEN not in page.inner_text("#action-result")

    local = page.evaluate("JSON.stringify(Object.entries(localStorage))")
    session = page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    cookies = json.dumps(context.cookies())
    idb = page.evaluate(_DUMP_INDEXEDDB)
    for where, text in (("localStorage", local), ("sessionStorage", session), ("cookies", cookies), ("IndexedDB", idb)):
        assert TOKEN not in text and "NeverStoreMe" not in text, f"the token is in the browser's {where}"
    assert "run-history" not in local, "Gradio's run history is off"

    leaked = [str(p) for p in home.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    log = (tmp_path / "app.log").read_text(errors="replace")
    assert leaked == [] and TOKEN not in log, f"the token was written to {leaked or 'the app log'}"
