"""The Gradio app: Chat, Data, Train, Compare and Runs.

    finetune-assistant ui               # http://127.0.0.1:7860
    python -m ui.app

Thin by design: each callback calls one function of `assistant/` or `tools/` and formats its result.
Per-user state lives in `gr.State`; module-level objects would be shared by every browser session.
"""

from __future__ import annotations

import gradio as gr

TITLE = "Fine-tune assistant"

_NOT_BUILT = "**Not built yet.** This area arrives with {what}; nothing here is simulated."


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nDescribe what you want your model to do; approve a plan; compare base and tuned answers.")
        with gr.Tab("Chat"):
            gr.Markdown(_NOT_BUILT.format(what="the assistant (interview, recommendation, plan approval)"))
        with gr.Tab("Data"):
            gr.Markdown(_NOT_BUILT.format(what="the data tools (inspect, validate, clean, tokenize, split)"))
        with gr.Tab("Train"):
            gr.Markdown(_NOT_BUILT.format(what="the training launcher and its monitor"))
        with gr.Tab("Compare"):
            gr.Markdown(_NOT_BUILT.format(what="serving and blind side-by-side comparison"))
        with gr.Tab("Runs"):
            gr.Markdown(_NOT_BUILT.format(what="the runs registry"))
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: tuple[str, str] | None = None) -> None:
    demo = build_app()
    print(f"Fine-tune assistant running at http://{host}:{port}", flush=True)
    demo.queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, share=share, auth=auth, show_error=False, quiet=True
    )


if __name__ == "__main__":
    launch()
