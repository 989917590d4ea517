"""The app's tabs, one builder each: `chat_tab`, `data_tab`, `train_tab`, `compare_tab`, `runs_tab`.

A builder lays out its components (element ids are what the browser tests select) and wires the events
that stay inside its tab; `wire_conversation` wires the ones that cross tabs (a chat turn fills the plan
card, the Data tab and the session's run id; the Train tab's timer brings the assistant's notes back to the
chat). Each builder must be called inside `gr.Blocks` and `gr.Tabs`.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ui.callbacks import BASE_SIDE, CHAT_FILE_TYPES, OLD_SIDE, Callbacks
from ui.views import REPLAY_HEADERS, ROUNDS_HEADERS

# Bounded text: a megabyte pasted in a box must not reach the parsers or the models (H1, M7).
MAX_CHAT_CHARS = 4000
MAX_PROMPT_CHARS = 8000
EXAMPLES = [
    "I want a support bot for our e-bike shop from our chat logs; I only have a laptop CPU",
    "I have 5,000 labelled contract clauses in a CSV and one RTX 4090",
]


def chat_tab() -> SimpleNamespace:
    with gr.Tab("Chat", id="chat", elem_id="tab-chat"), gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(elem_id="chatbot", height=480, show_label=False)
            box = gr.MultimodalTextbox(
                elem_id="chat-input", file_types=CHAT_FILE_TYPES, file_count="multiple",
                placeholder="Describe your goal, or attach your dataset…", show_label=False,
                interactive=False,  # enabled once the page load has restored or created the session
            )
            gr.Examples(EXAMPLES, inputs=box)
        with gr.Column(scale=2):
            plan_md = gr.Markdown(elem_id="plan-card", value="_No plan yet._")
            with gr.Row():
                approve = gr.Button("Approve", variant="primary", interactive=False, elem_id="approve")
                reject = gr.Button("Reject", variant="stop", interactive=False, elem_id="reject")
            edit_txt = gr.Textbox(label="Change the plan in words", placeholder="use rank 32, 3 epochs…",
                                  elem_id="edit-text", max_length=MAX_CHAT_CHARS)
            edit = gr.Button("Edit plan", interactive=False, elem_id="edit")
    return SimpleNamespace(chatbot=chatbot, box=box, plan_md=plan_md, approve=approve, reject=reject,
                           edit_txt=edit_txt, edit=edit)


def data_tab() -> SimpleNamespace:
    with gr.Tab("Data", id="data", elem_id="tab-data"), gr.Row():
        with gr.Column(scale=3):
            report = gr.Markdown("_No data inspected yet._", elem_id="data-report")
            errors = gr.Dataframe(headers=["row", "field", "message"], label="Rejected rows", interactive=False,
                                  elem_id="data-errors")
        with gr.Column(scale=2):
            pii = gr.Dataframe(headers=["kind", "redacted"], label="PII redacted", interactive=False)
            hist = gr.Image(label="Tokens per row", type="filepath", interactive=False, elem_id="data-histogram")
            upload = gr.File(label="Inspect a file (nothing is trained)", file_types=CHAT_FILE_TYPES, type="filepath")
    return SimpleNamespace(report=report, errors=errors, pii=pii, hist=hist, upload=upload)


def train_tab(cb: Callbacks, run_id: gr.State) -> SimpleNamespace:
    with gr.Tab("Train", id="train", elem_id="tab-train"):
        with gr.Row():
            run = gr.Dropdown(label="Run", choices=[], allow_custom_value=False, elem_id="train-run")
            refresh = gr.Button("Refresh runs", size="sm")
        progress = gr.HTML(elem_id="train-progress-box")
        loss_plot = gr.LinePlot(x="step", y="loss", color="split", title="Loss", elem_id="loss-plot", height=280)
        reading = gr.Markdown(elem_id="curve-reading")
        with gr.Row():
            cancel = gr.Button("Cancel (keeps a checkpoint)", variant="stop")
            resume = gr.Button("Resume")
        run_msg = gr.Markdown()
        log_box = gr.Code(label="Log (tail)", language=None, interactive=False, lines=12)
        timer = gr.Timer(2.0)
    run_id.change(cb.run_choices, run_id, run)
    refresh.click(cb.run_choices, run, run)
    cancel.click(cb.cancel, run, run_msg)
    resume.click(cb.resume, run, run_msg)
    return SimpleNamespace(run=run, progress=progress, loss_plot=loss_plot, reading=reading, log_box=log_box,
                           timer=timer)


def compare_tab(cb: Callbacks) -> None:
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        with gr.Row():
            tuned_run = gr.Dropdown(label="Tuned run", choices=[], elem_id="compare-run")
            opponent = gr.Radio([BASE_SIDE, OLD_SIDE], value=BASE_SIDE, label="Compare with", visible=False,
                                elem_id="compare-opponent")  # fmt: skip
            blind = gr.Checkbox(True, label="Blind: A/B order is random per prompt")
        recorded = gr.Dropdown(label="Recorded prompt (the old model answered only these)", choices=[], visible=False,
                               elem_id="compare-recorded")  # fmt: skip
        prompt = gr.Textbox(label="Prompt for both models", elem_id="compare-prompt", lines=2, max_length=MAX_PROMPT_CHARS)
        with gr.Row():
            ask = gr.Button("Ask both", variant="primary", elem_id="ask")
            replay = gr.Button("Replay test prompts", elem_id="replay")
        notice = gr.Markdown(elem_id="compare-notice")
        with gr.Row():
            answer_a = gr.Textbox(label="A", lines=8, interactive=False, elem_id="answer-a")
            answer_b = gr.Textbox(label="B", lines=8, interactive=False, elem_id="answer-b")
        with gr.Row():
            votes = {choice: gr.Button(label, interactive=False, elem_id=f"vote-{choice}")
                     for choice, label in (("A", "A is better"), ("B", "B is better"), ("tie", "Tie"),
                                           ("both_bad", "Both bad"))}
        vote_msg = gr.Markdown(elem_id="vote-result")
        rate_md = gr.Markdown(elem_id="win-rate")
        export = gr.Button("Export votes as a preference dataset", elem_id="export")
        export_msg = gr.Markdown(elem_id="export-result")
        export_file = gr.File(label="Preference data (prompt/chosen/rejected JSONL)", interactive=False)
        with gr.Accordion("Replay: the run's locked test prompts, both models, scored by its checks", open=True):
            replay_prompts = gr.Textbox(label="Test prompts", lines=4, interactive=False, elem_id="replay-prompts")
            replay_msg = gr.Markdown(elem_id="replay-notice")
            replay_table = gr.Dataframe(headers=REPLAY_HEADERS, interactive=False, wrap=True, elem_id="replay-table")
        # Inside the tab: a component between two tabs shifts the later tabs' positions in the tab bar.
        comparison = gr.State()
    tuned_run.focus(cb.tuned_choices, tuned_run, tuned_run)
    tuned_run.change(cb.opponents, [tuned_run, opponent], [opponent, recorded])
    opponent.change(cb.recorded_list, [tuned_run, opponent], recorded)
    recorded.change(cb.recorded_prompt, [tuned_run, recorded], prompt)
    ask.click(cb.tuned_choices, tuned_run, tuned_run).then(
        cb.ask, [tuned_run, prompt, blind, opponent, recorded], [answer_a, answer_b, notice, comparison, *votes.values()]
    )
    for choice, btn in votes.items():
        btn.click(cb.vote_for(choice), comparison, [vote_msg, rate_md, comparison, *votes.values()])
    export.click(cb.export, tuned_run, [export_msg, export_file])
    replay.click(cb.tuned_choices, tuned_run, tuned_run).then(
        cb.replay, tuned_run, [replay_prompts, replay_table, replay_msg])


def runs_tab(cb: Callbacks, demo: gr.Blocks) -> None:
    with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
        table = gr.Dataframe(headers=["run", "status", "objective", "method", "base", "step", "loss", "eval loss"],
                             interactive=False, elem_id="runs-table")
        with gr.Row():
            pick = gr.Dropdown(label="Run", choices=[], elem_id="runs-pick")
            refresh = gr.Button("Refresh", size="sm")
        rounds_note = gr.Markdown(elem_id="rounds-note")
        rounds = gr.Dataframe(headers=ROUNDS_HEADERS, label="Rounds of this goal, side by side", interactive=False,
                              wrap=True, elem_id="rounds-table")
        with gr.Row():
            card_md = gr.Markdown(elem_id="model-card")
            eval_md = gr.Markdown(elem_id="eval-report")
        with gr.Row():
            zip_btn = gr.Button("Download adapter")
            merge_btn = gr.Button("Merge adapter into a full model")
        with gr.Row():
            hub_repo = gr.Textbox(label="Hub repo (you/model-name)", elem_id="hub-repo")
            hub_token = gr.Textbox(label="Hugging Face token (write)", type="password", elem_id="hub-token")
            push_btn = gr.Button("Push to the Hub", elem_id="push")
        action_msg = gr.Markdown(elem_id="action-result")
        action_file = gr.File(label="Download", interactive=False)
    refresh.click(cb.runs, None, [table, pick])
    pick.change(cb.run_details, pick, [card_md, eval_md])
    pick.change(cb.rounds, pick, [rounds, rounds_note])
    zip_btn.click(cb.zip_run, pick, [action_msg, action_file])
    merge_btn.click(cb.merge_run, pick, [action_msg, action_file])
    # The token is an input of this one private event only, and the box is emptied as soon as it has been used.
    push_btn.click(cb.push_run, [pick, hub_repo, hub_token], [action_msg, action_file],
                   api_visibility="private").then(lambda: "", None, hub_token, api_visibility="private")
    demo.load(cb.runs, None, [table, pick])


def wire_conversation(cb: Callbacks, demo: gr.Blocks, session, run_id: gr.State, chat: SimpleNamespace,
                      data: SimpleNamespace, train: SimpleNamespace) -> None:  # fmt: skip
    turn = [chat.plan_md, chat.approve, chat.reject, chat.edit, data.report, data.errors, data.pii, data.hist, run_id]
    demo.load(cb.restore, session, [session, chat.chatbot, chat.box, *turn])
    chat.box.submit(cb.chat, [chat.box, chat.chatbot, session], [chat.chatbot, chat.box, *turn])
    chat.approve.click(cb.approve, [chat.chatbot, session], [chat.chatbot, *turn])
    chat.reject.click(cb.reject, [chat.chatbot, session], [chat.chatbot, *turn])
    chat.edit.click(cb.edit, [chat.chatbot, session, chat.edit_txt], [chat.chatbot, *turn])
    data.upload.upload(cb.inspect_upload, [data.upload, session], [data.report, data.errors, data.pii, data.hist])
    train.timer.tick(cb.monitor, [train.run, run_id, session, chat.chatbot],
                     [train.progress, train.loss_plot, train.reading, train.log_box, chat.chatbot, chat.plan_md,
                      chat.approve, chat.reject, chat.edit, run_id], show_progress="hidden")
