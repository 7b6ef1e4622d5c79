"""The tasks a genoattn model trains on, named once (data, models, training and prediction import them)."""

from __future__ import annotations

from typing import Literal, get_args

Task = Literal["token_classification", "sequence_classification", "regression", "mlm"]
TASKS: tuple[str, ...] = get_args(Task)
TOKEN_LEVEL_TASKS: tuple[str, ...] = ("token_classification", "mlm")  # one output per position
PREDICT_TASKS: tuple[str, ...] = ("token_classification", "sequence_classification", "regression")  # predict writes
