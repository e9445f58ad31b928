"""Training: the ``Trainer`` loop, its callbacks, optimizers and checkpoints.

``TrainConfig`` (``train.options``) is plain Python; the rest needs torch and is imported on first
use, so that ``ctrkit.config`` reads experiments without loading torch.
"""
from typing import Any

from .options import TrainConfig, monitor_value

__all__ = ["Callback", "Checkpoint", "EarlyStopping", "History", "LRPlateau", "ProgressBar", "TensorBoard",
           "TrainConfig", "Trainer", "monitor_value"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from .trainer import Trainer
        return Trainer
    if name in __all__:
        from . import callbacks
        return getattr(callbacks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
