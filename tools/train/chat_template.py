"""Chat templates with `{% generation %}` markers, so SFT can put the loss on assistant turns only.

TRL patches the templates it knows (`trl.chat_template_utils.get_training_chat_template`); SmolLM2's
ChatML template is not among them, so its training twin lives here. Each twin renders exactly the same text
as the original (a test checks that) and only marks which characters the assistant wrote.
"""

from __future__ import annotations

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The end-of-turn `<|im_end|>` sits inside the markers, so the model learns to stop.
SMOLLM2_TRAINING_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}{% endgeneration %}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

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
        return None
    twin = _TRAINING_TWINS.get(template.strip())
    if twin is not None:
        return twin
    return get_training_chat_template(tokenizer)
