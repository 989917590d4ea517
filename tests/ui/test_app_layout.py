"""The app's tab bar as the browser builds it from the config: Gradio places a tab by its position among the
Tabs block's children, so a stray component there (a gr.State made after a `with gr.Tab`) made the selected
tab show twice in the bar and hid the last one (the browser check is in test_browser_monitor.py)."""

from __future__ import annotations

from ui.app import build_app


def _layout(demo):
    config = demo.config
    return {c["id"]: c for c in config["components"]}, config["layout"]


def test_the_tabs_block_holds_only_tabs_in_their_order(app_home):
    demo = build_app()
    components, layout = _layout(demo)
    found = []

    def walk(node):
        if components.get(node["id"], {}).get("type") == "tabs":
            found.append([components[child["id"]] for child in node.get("children", [])])
        for child in node.get("children", []):
            walk(child)

    walk(layout)
    assert len(found) == 1, "one tab bar"
    children = found[0]
    assert [c["type"] for c in children] == ["tabitem"] * len(children), [c["type"] for c in children]
    assert [c["props"]["label"] for c in children] == ["Chat", "Data", "Train", "Compare", "Runs", "Monitor"]
