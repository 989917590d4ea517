"""Move off a hosted fine-tune: record the old model's answers to the held-out prompts (a golden set)."""

from tools.migrate.record import GoldenSet, RecordError, held_out_prompts, record

__all__ = ["GoldenSet", "RecordError", "held_out_prompts", "record"]
