"""The Monitor tab: what deployed models are doing, from the gateway's request log (`finetune-assistant deploy`).

    with gr.Tab("Monitor", id="monitor") as tab:
        build_monitor_tab(tab)

Figures per model (requests, errors, p50/p95 latency, tokens/s, thumbs), plots over time, drift against the
training prompts with the farthest prompts, flagged answers, canary feedback, hallucination signals, the
latest bias probe report of each tuned model, and the export of rated traffic for the next round. It reads the store only when the tab is opened or refreshed.
"""

from __future__ import annotations

import time
from datetime import datetime

import gradio as gr

from tools.monitor import export, report

WINDOWS = {"last hour": 3600, "last 24 hours": 86400, "last 7 days": 7 * 86400, "all": None}


def _since(window: str) -> float | None:
    seconds = WINDOWS.get(window)
    return None if seconds is None else time.time() - seconds


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def headline(found: dict) -> str:
    if not found["requests"]:
        return "No traffic in this window. Start a deployment with `finetune-assistant deploy RUN_DIR` and send requests."
    fb = found["feedback"]
    return (f"**{found['requests']}** requests · **{found['errors']}** errors · p50 **{_ms(found['p50_ms'])}** · "
            f"p95 **{_ms(found['p95_ms'])}** · **{found['tokens_per_s'] or '-'}** tokens/s · "
            f"feedback: **{fb['up']}** up, **{fb['down']}** down")  # fmt: skip


def _round(value):
    return None if value is None else round(value)


def _frames(found: dict):
    import pandas as pd

    points = found.get("timeline") or []
    timeline = pd.DataFrame(
        [{"time": datetime.fromtimestamp(p["t"]), "model": p["model"], "requests": p["requests"],
          "p95 ms": p["p95_ms"] or 0.0, "errors": p["errors"]} for p in points]  # fmt: skip
        or [{"time": datetime.now(), "model": "-", "requests": 0, "p95 ms": 0.0, "errors": 0}]
    )
    models = [[name, f["requests"], f["errors"], _round(f["p50_ms"]), _round(f["p95_ms"]), f["tokens_per_s"], f["up"],
               f["down"]] for name, f in found["by_model"].items()]  # fmt: skip
    far = [[x["similarity"], x["prompt"], x["nearest_training"]] for x in found["drift"]["farthest"]]
    flagged = [[", ".join(x["reasons"]), x["model"], x["prompt"], x["answer"]] for x in found["flags"]["items"]]
    return timeline, models, far, flagged


def signals_text(found: dict) -> str:
    d = found["drift"]
    lines = ["### Drift"]
    if d["score"] is None:
        lines.append(f"Not measured: {d.get('note')}.")
    else:
        lines.append(f"Mean distance to the nearest training prompt **{d['score']:.3f}** (0 = seen in training, 1 = "
                     f"nothing alike); prompt-length KS **{d['length_ks']:.3f}** (traffic {d['length_mean']['traffic']} "
                     f"vs training {d['length_mean']['training']} words).")  # fmt: skip
    counts = found["flags"]["counts"]
    lines += ["### Flagged answers", ", ".join(f"{k}: **{v}**" for k, v in counts.items()) or "None."]
    if found["canaries"]:
        lines.append("### Canaries")
        for c in found["canaries"]:
            diff = c["up_rate_diff"]
            ci = "not enough ratings" if diff["diff"] is None else (
                f"{diff['diff']:+.2f} (95% CI {diff['low']:+.2f} to {diff['high']:+.2f})"
                + (" — significant" if diff["significant"] else ""))  # fmt: skip
            lines.append(f"`{c['canary']['model']}` vs `{c['control']['model']}`: thumbs-up rate difference {ci}")
    h = found["hallucination"]
    lines += ["### Hallucination signals",
              f"{len(h['contradictions'])} answers contradict the training answer of a near-identical prompt; "
              f"{len(h['reask']['disagreements'])} of {h['reask']['checked']} re-asked prompts got a different answer."]  # fmt: skip
    return "\n\n".join(lines + [bias_text(found.get("bias") or [])])


def bias_text(reports: list[dict]) -> str:
    """The latest bias probe report of each model: the gap between groups, per dimension."""
    lines = ["### Bias probes"]
    if not reports:
        return "\n\n".join(lines + ["None yet: a deployment probes each new tuned model in the background; "
                                      "`finetune-assistant monitor bias --model NAME` runs them on demand."])  # fmt: skip
    for b in reports:
        when = datetime.fromtimestamp(b["created_at"]).strftime("%Y-%m-%d %H:%M")
        how = "when first deployed" if b["trigger"] == "deploy" else "on demand"
        table = ["| dimension | refusal-rate gap | length gap (words) | sentiment gap |", "|---|---|---|---|"]
        table += [f"| {dim} | {d['gaps']['refusal_rate']:.2f} | {d['gaps']['length_words']:.1f} | {d['gaps']['sentiment']:+.3f} |"
                  for dim, d in b["dimensions"].items()]  # fmt: skip
        lines += [f"`{b['model']}`: {b['requests']} probes, {how}, {when}", "\n".join(table)]
    lines.append("A gap is the largest difference between groups (names, genders, nationalities swapped in the same "
                 "request): read those answers side by side; it is a prompt to look, not proof of bias.")  # fmt: skip
    return "\n\n".join(lines)


def refresh(window: str):
    found = report.build_report(_since(window))
    timeline, models, far, flagged = _frames(found)
    return headline(found), timeline, timeline, models, signals_text(found), far, flagged


def export_rated(window: str, kind: str):
    try:
        result = export.next_round_data(kind, _since(window))
    except ValueError as exc:
        return f"Nothing exported: {exc}", None
    return (f"Wrote {result['rows']} {kind} rows from {result['rated']} rated answers to `{result['path']}`. "
            "Ask the assistant in Chat to plan the next round on it."), result["path"]  # fmt: skip


def build_monitor_tab(tab: gr.Tab | None = None) -> None:
    """The tab's components and events, inside the caller's `gr.Tab`; refreshed when `tab` is selected."""
    with gr.Row():
        window = gr.Dropdown(list(WINDOWS), value="last 24 hours", label="Window", scale=1)
        refresh_btn = gr.Button("Refresh", size="sm", scale=0, elem_id="monitor-refresh")
    summary = gr.Markdown(elem_id="monitor-summary")
    with gr.Row():
        requests_plot = gr.LinePlot(x="time", y="requests", color="model", title="Requests", height=240)
        latency_plot = gr.LinePlot(x="time", y="p95 ms", color="model", title="p95 latency (ms)", height=240)
    models_df = gr.Dataframe(headers=["model", "requests", "errors", "p50 ms", "p95 ms", "tokens/s", "up", "down"],
                             interactive=False, elem_id="monitor-models")  # fmt: skip
    signals_md = gr.Markdown(elem_id="monitor-signals")
    far_df = gr.Dataframe(headers=["similarity", "prompt (farthest from training)", "nearest training prompt"],
                          interactive=False, label="Drift: farthest prompts", wrap=True)  # fmt: skip
    flagged_df = gr.Dataframe(headers=["why", "model", "prompt", "answer"], interactive=False, wrap=True,
                              label="Flagged answers (newest first)", elem_id="monitor-flagged")  # fmt: skip
    with gr.Row():
        kind = gr.Radio(["kto", "dpo", "sft"], value="kto", label="Export rated traffic as", scale=2)
        export_btn = gr.Button("Export for the next round", scale=1)
    export_msg = gr.Markdown()
    export_file = gr.File(label="Dataset (JSONL)", interactive=False)

    outputs = [summary, requests_plot, latency_plot, models_df, signals_md, far_df, flagged_df]
    refresh_btn.click(refresh, window, outputs)
    window.change(refresh, window, outputs)
    if tab is not None:
        tab.select(refresh, window, outputs)
    export_btn.click(export_rated, [window, kind], [export_msg, export_file])
