"""The functions the agent calls: data, training, serving, evaluation, comparison.

Each is usable from Python and from the `finetune-assistant` CLI without the UI. Heavy libraries (torch,
transformers, trl, vllm) are imported inside the functions that need them, so importing `tools` is cheap.
"""
