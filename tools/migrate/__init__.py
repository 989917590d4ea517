"""Move off a hosted fine-tune: record the old model's answers to the held-out prompts (a golden set),
derive success checks from them (`checks`), score a tuned open model against them (`score`), and serve them as
one more "model" for blind votes (`golden`). The planning loop that trains the open model is
`assistant/migrate.py` (`finetune-assistant migrate run`)."""

from tools.migrate.record import GoldenSet, RecordError, held_out_prompts, record

__all__ = ["GoldenSet", "RecordError", "held_out_prompts", "record"]
