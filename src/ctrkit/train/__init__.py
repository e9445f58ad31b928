"""Training and evaluation."""
from .metrics import binary_metrics, expected_calibration_error, group_auc, log_loss, roc_auc
from .trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer", "binary_metrics", "expected_calibration_error", "group_auc", "log_loss", "roc_auc"]
