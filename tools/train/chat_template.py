"""Chat templates with `{% generation %}` markers, so SFT can put the loss on assistant turns only,
and the check that such a loss will train on something.

TRL patches the templates it knows (`trl.chat_template_utils.get_training_chat_template`); SmolLM2's
ChatML template is not among them, so its training twin lives here. Each twin renders exactly the same text
as the original (a test checks that) and only marks which characters the assistant wrote.

Per-message weights (OpenAI's `weight: 0` on an assistant turn: keep it as context, don't train on it):
TRL's SFTTrainer has no per-message weights; its assistant-only loss trains exactly the characters inside
the template's generation markers. So `honour_weights` rewrites the marked block to skip the markers for
a message whose weight is 0: the rendered text is unchanged, the turn just leaves the loss mask. With
`assistant_only_loss` off the whole sequence trains and weights have no effect.
"""

from __future__ import annotations

import json
import re
from typing import Any

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The end-of-turn `<|im_end|>` sits inside the markers, so the model learns to stop.
_SMOLLM2_MARKED = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}{% endgeneration %}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_GENERATION = re.compile(r"(\{%-?\s*)generation(\s*-?%\})(.*?)(\{%-?\s*)endgeneration(\s*-?%\})", re.DOTALL)
_WEIGHT_ZERO = "(message.weight is defined and message.weight == 0)"
_ASSISTANT_ONLY_OFF = "set `assistant_only_loss: false` in the plan to train on whole conversations"


def honour_weights(template: str) -> str:
    """`template` with each `{% generation %}X{% endgeneration %}` skipped for weight-0 messages (X is
    still rendered). Templates that don't loop `for message in messages` are returned unchanged."""
    if "for message in messages" not in template or _WEIGHT_ZERO in template:
        return template

    def wrap(m: re.Match) -> str:
        open_, close, body, end_open, end_close = m.groups()
        return (f"{open_}if {_WEIGHT_ZERO}{close}{body}{open_}else{close}{open_}generation{close}{body}"
                f"{end_open}endgeneration{end_close}{end_open}endif{end_close}")  # fmt: skip

    return _GENERATION.sub(wrap, template)


SMOLLM2_TRAINING_TEMPLATE = honour_weights(_SMOLLM2_MARKED)
_TRAINING_TWINS = {SMOLLM2_TEMPLATE.strip(): SMOLLM2_TRAINING_TEMPLATE}


def training_chat_template(tokenizer) -> str | None:
    """A template with generation markers for `tokenizer`, None if it already has them.

    Raises ValueError when neither TRL nor this module knows how to mark the template.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    if not template:
        raise ValueError("the tokenizer has no chat template, so chat data cannot be formatted")
    if has_generation_markers(template):
        weighted = honour_weights(template)
        return None if weighted == template else weighted
    twin = _TRAINING_TWINS.get(template.strip())
    if twin is not None:
        return twin
    patched = get_training_chat_template(tokenizer)
    return honour_weights(patched) if patched else None


def check_trainable_labels(tokenizer: Any, rows: list[dict], max_length: int, sample: int = 8) -> None:
    """Tokenize the first `sample` chat rows the way SFTTrainer does with assistant-only loss and raise
    ValueError naming the cause and the fix when none keeps a trained token (a run whose loss is
    always zero would otherwise look like it trains)."""
    from trl.chat_template_utils import has_generation_markers

    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    if not template or not has_generation_markers(template):
        raise ValueError(
            "assistant-only loss would train on nothing: the model's chat template has no {% generation %} markers "
            "and neither TRL nor this app knows how to add them, so every label would be masked. Fix: "
            f"{_ASSISTANT_ONLY_OFF}, or add {{% generation %}}...{{% endgeneration %}} around the assistant's "
            "text (and its end-of-turn token) in the tokenizer's chat template."
        )
    rows = [r for r in rows[:sample] if isinstance(r.get("messages"), list)]
    starts, all_weight_zero = [], True
    for row in rows:
        tools = json.loads(row["tools"]) if isinstance(row.get("tools"), str) else row.get("tools")
        out = tokenizer.apply_chat_template(row["messages"], tools=tools or None, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)  # fmt: skip
        mask = list(out["assistant_masks"])
        if any(mask[:max_length]):
            return
        if any(mask):
            starts.append(mask.index(1))
        if any(m.get("role") == "assistant" and m.get("weight") != 0 for m in row["messages"]):
            all_weight_zero = False
    where = f"the first {len(rows)} rows"
    if starts:
        raise ValueError(
            f"assistant-only loss would train on nothing: max_length {max_length} cuts every answer away in {where} "
            f"(the first answer starts at token {min(starts)}). Fix: raise max_length above {min(starts) + 32}, or "
            "shorten the prompts (system prompt, history)."
        )
    if rows and all_weight_zero:
        raise ValueError(
            f"assistant-only loss would train on nothing: every assistant turn in {where} has weight 0. Fix: set "
            "weight 1 on the answers to learn from (or drop the weight field)."
        )
    raise ValueError(
        f"assistant-only loss would train on nothing: the chat template's generation markers enclose no assistant "
        f"token in {where}. Fix: {_ASSISTANT_ONLY_OFF}, or move the markers around the assistant's text."
    )
