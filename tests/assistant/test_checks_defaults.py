"""Calibrated defaults: small data gets a schedule of at least MIN_UPDATES optimizer updates (not 33)."""

from __future__ import annotations

import math

from assistant.fit import MIN_UPDATES, hyperparameters, small_data_schedule
from assistant.state import ConversationState
from tools.train.hardware import Hardware


def _updates(rows: int, params: dict) -> int:
    train = int(rows * 0.8)
    return math.ceil(train / (params["batch_size"] * params["gradient_accumulation"])) * int(params["epochs"])


def test_ninety_rows_get_enough_updates_at_batch_four():
    state = ConversationState()
    state.data.rows = 90
    params = hyperparameters(state, "sft", "lora", Hardware.parse("cpu"))
    assert (params["batch_size"], params["gradient_accumulation"], params["lora_r"]) == (4, 1, 16)
    assert MIN_UPDATES <= _updates(90, params) <= MIN_UPDATES + 20


def test_schedule_floor_only_raises_epochs_and_caps_them():
    assert small_data_schedule(400, 3.0)["epochs"] == 3.0  # 80 updates/epoch already: 3 epochs = 240
    assert small_data_schedule(10, 3.0)["epochs"] == 12.0  # tiny data: capped, not 60 epochs
