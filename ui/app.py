"""The Gradio app: Chat, Data, Train, Compare and Runs.

    finetune-assistant ui               # http://127.0.0.1:7860
    python -m ui.app

Thin by design: layout here, callbacks in `ui.callbacks` (each calls `assistant/` or `tools/`), formatting
in `ui.views`. Per-user state lives in `gr.State`; shared resources live in one `Services` object.
"""

from __future__ import annotations

import signal
import sys
from functools import partial

import gradio as gr

from ui.callbacks import CHAT_FILE_TYPES, Callbacks
from ui.monitor_tab import build_monitor_tab
from ui.services import AppConfig, Services, browser_secret, private_files, use_data_dir_for_gradio_uploads

TITLE = "Fine-tune assistant"
_INTRO = (
    f"# {TITLE}\nTell me what you want your model to do. I'll ask a few questions, propose a plan "
    "(nothing runs until you approve it), prepare your data, train, and let you compare the base and the "
    "tuned model side by side."
)
_EXAMPLES = [
    "I want a support bot for our e-bike shop from our chat logs; I only have a laptop CPU",
    "I have 5,000 labelled contract clauses in a CSV and one RTX 4090",
]


def build_app(services: Services | None = None) -> gr.Blocks:
    cb = Callbacks(services or Services())
    with gr.Blocks(title=TITLE) as demo:
        # The conversation id lives in the browser (encrypted), so a reload or an app restart keeps the chat.
        session = gr.BrowserState(None, storage_key="finetune-assistant-session", secret=browser_secret())
        run_id = gr.State()
        comparison = gr.State()
        gr.Markdown(_INTRO)
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(elem_id="chatbot", height=480, show_label=False)
                        box = gr.MultimodalTextbox(
                            elem_id="chat-input", file_types=CHAT_FILE_TYPES, file_count="multiple",
                            placeholder="Describe your goal, or attach your dataset…", show_label=False,
                            interactive=False,  # enabled once the page load has restored or created the session
                        )
                        gr.Examples(_EXAMPLES, inputs=box)
                    with gr.Column(scale=2):
                        plan_md = gr.Markdown(elem_id="plan-card", value="_No plan yet._")
                        with gr.Row():
                            approve_btn = gr.Button("Approve", variant="primary", interactive=False, elem_id="approve")
                            reject_btn = gr.Button("Reject", variant="stop", interactive=False, elem_id="reject")
                        edit_txt = gr.Textbox(label="Change the plan in words", placeholder="use rank 32, 3 epochs…",
                                              elem_id="edit-text")
                        edit_btn = gr.Button("Edit plan", interactive=False, elem_id="edit")
            with gr.Tab("Data", id="data", elem_id="tab-data"):
                with gr.Row():
                    with gr.Column(scale=3):
                        data_md = gr.Markdown("_No data inspected yet._", elem_id="data-report")
                        errors_df = gr.Dataframe(headers=["row", "field", "message"], label="Rejected rows",
                                                 interactive=False, elem_id="data-errors")
                    with gr.Column(scale=2):
                        pii_df = gr.Dataframe(headers=["kind", "redacted"], label="PII redacted", interactive=False)
                        hist_img = gr.Image(label="Tokens per row", type="filepath", interactive=False,
                                            elem_id="data-histogram")
                        upload = gr.File(label="Inspect a file (nothing is trained)", file_types=CHAT_FILE_TYPES,
                                         type="filepath")
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                with gr.Row():
                    train_run = gr.Dropdown(label="Run", choices=[], allow_custom_value=False, elem_id="train-run")
                    refresh_btn = gr.Button("Refresh runs", size="sm")
                progress = gr.HTML(elem_id="train-progress-box")
                loss_plot = gr.LinePlot(x="step", y="loss", color="split", title="Loss", elem_id="loss-plot", height=280)
                reading = gr.Markdown(elem_id="curve-reading")
                with gr.Row():
                    cancel_btn = gr.Button("Cancel (keeps a checkpoint)", variant="stop")
                    resume_btn = gr.Button("Resume")
                run_msg = gr.Markdown()
                log_box = gr.Code(label="Log (tail)", language=None, interactive=False, lines=12)
                timer = gr.Timer(2.0)
            with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
                with gr.Row():
                    tuned_run = gr.Dropdown(label="Tuned run", choices=[], elem_id="compare-run")
                    blind = gr.Checkbox(True, label="Blind: A/B order is random per prompt")
                prompt = gr.Textbox(label="Prompt for both models", elem_id="compare-prompt", lines=2)
                ask_btn = gr.Button("Ask both", variant="primary", elem_id="ask")
                notice = gr.Markdown(elem_id="compare-notice")
                with gr.Row():
                    answer_a = gr.Textbox(label="A", lines=8, interactive=False, elem_id="answer-a")
                    answer_b = gr.Textbox(label="B", lines=8, interactive=False, elem_id="answer-b")
                with gr.Row():
                    vote_btns = {
                        choice: gr.Button(label, interactive=False, elem_id=f"vote-{choice}")
                        for choice, label in (("A", "A is better"), ("B", "B is better"), ("tie", "Tie"),
                                              ("both_bad", "Both bad"))
                    }
                vote_msg = gr.Markdown(elem_id="vote-result")
                rate_md = gr.Markdown(elem_id="win-rate")
                export_btn = gr.Button("Export votes as a preference dataset", elem_id="export")
                export_msg = gr.Markdown(elem_id="export-result")
                export_file = gr.File(label="Preference data (prompt/chosen/rejected JSONL)", interactive=False)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
                runs_df = gr.Dataframe(headers=["run", "status", "objective", "method", "base", "step", "loss",
                                                "eval loss"], interactive=False, elem_id="runs-table")
                with gr.Row():
                    run_pick = gr.Dropdown(label="Run", choices=[])
                    runs_refresh = gr.Button("Refresh", size="sm")
                with gr.Row():
                    card_md = gr.Markdown(elem_id="model-card")
                    eval_md = gr.Markdown(elem_id="eval-report")
                with gr.Row():
                    zip_btn = gr.Button("Download adapter")
                    merge_btn = gr.Button("Merge adapter into a full model")
                with gr.Row():
                    hub_repo = gr.Textbox(label="Hub repo (you/model-name)")
                    hub_token = gr.Textbox(label="Hugging Face token (write)", type="password")
                    push_btn = gr.Button("Push to the Hub")
                action_msg = gr.Markdown()
                action_file = gr.File(label="Download", interactive=False)
            with gr.Tab("Monitor", id="monitor", elem_id="tab-monitor") as monitor_tab:
                build_monitor_tab(monitor_tab)

        turn_outputs = [plan_md, approve_btn, reject_btn, edit_btn, data_md, errors_df, pii_df, hist_img, run_id]
        demo.load(cb.restore, session, [session, chatbot, box, *turn_outputs])
        box.submit(cb.chat, [box, chatbot, session], [chatbot, box, *turn_outputs])
        approve_btn.click(partial(cb.decide, "approve"), [chatbot, session], [chatbot, *turn_outputs])
        reject_btn.click(partial(cb.decide, "reject"), [chatbot, session], [chatbot, *turn_outputs])
        edit_btn.click(partial(cb.decide, "edit"), [chatbot, session, edit_txt], [chatbot, *turn_outputs])
        upload.upload(cb.inspect_upload, [upload, session], [data_md, errors_df, pii_df, hist_img])

        run_id.change(cb.run_choices, run_id, train_run)
        refresh_btn.click(cb.run_choices, train_run, train_run)
        timer.tick(cb.monitor, [train_run, run_id, session, chatbot],
                   [progress, loss_plot, reading, log_box, chatbot], show_progress="hidden")
        cancel_btn.click(cb.cancel, train_run, run_msg)
        resume_btn.click(cb.resume, train_run, run_msg)

        tuned_run.focus(cb.tuned_choices, tuned_run, tuned_run)
        ask_btn.click(cb.tuned_choices, tuned_run, tuned_run).then(
            cb.ask, [tuned_run, prompt, blind], [answer_a, answer_b, notice, comparison, *vote_btns.values()]
        )
        for choice, btn in vote_btns.items():
            btn.click(partial(cb.vote, choice), comparison, [vote_msg, rate_md, comparison, *vote_btns.values()])
        export_btn.click(cb.export, tuned_run, [export_msg, export_file])

        runs_refresh.click(cb.runs, None, [runs_df, run_pick])
        run_pick.change(cb.run_details, run_pick, [card_md, eval_md])
        zip_btn.click(partial(cb.run_action, "zip"), run_pick, [action_msg, action_file])
        merge_btn.click(partial(cb.run_action, "merge"), run_pick, [action_msg, action_file])
        push_btn.click(partial(cb.run_action, "push"), [run_pick, hub_repo, hub_token], [action_msg, action_file])
        demo.load(cb.runs, None, [runs_df, run_pick])
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: tuple[str, str] | None = None,
           config: AppConfig | None = None) -> None:
    use_data_dir_for_gradio_uploads()
    services = Services(config)
    services.start_worker()
    demo = build_app(services)
    # `finally` must run on SIGTERM too (systemd, docker stop): it stops the vLLM server we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Fine-tune assistant running at http://{host}:{port}", flush=True)
    try:
        demo.queue(default_concurrency_limit=4).launch(
            server_name=host, server_port=port, share=share, auth=auth, show_error=False, quiet=True,
            blocked_paths=private_files(),
        )
    finally:
        services.close()


if __name__ == "__main__":
    launch()
