"""The training loop: loss on logits, optimizers, evaluation, early stopping, best weights."""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.loader import BatchLoader
from ..data.store import EncodedArrays
from ..models.base import CTRModel
from .metrics import binary_metrics, regression_metrics
from .optim import build_optimizers


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 1024
    eval_batch_size: int = 16384
    lr: float = 1e-3
    optimizer: str = "adam"
    embedding_optimizer: str = "sparse_adam"   # used when the model has sparse tables
    embedding_lr: float = 0.0                  # 0: same as lr
    weight_decay: float = 0.0
    clip_norm: float = 0.0                     # 0: no clipping
    monitor: str = "auc"                       # auc | logloss | auc-logloss | mse ...
    patience: int = 2
    min_delta: float = 0.0
    shuffle: str = "rows"
    seed: int = 0


def monitor_value(metrics: Dict[str, float], monitor: str) -> float:
    """The monitored score, larger is better: 'auc', 'logloss' (negated), or a signed sum such as
    'auc-logloss'."""
    total, sign, token = 0.0, 1.0, ""
    for ch in monitor + "+":
        if ch in "+-" and token:
            value = metrics[token]
            total += sign * (value if token in ("auc", "accuracy", "f1", "precision", "recall", "gauc") else -value)
            sign, token = (1.0 if ch == "+" else -1.0), ""
        elif ch in "+-":
            sign = 1.0 if ch == "+" else -1.0
        else:
            token += ch
    return total


class Trainer:
    """Trains any ``CTRModel`` on ``EncodedArrays``; the model never knows it is being trained."""

    def __init__(self, model: CTRModel, config: Optional[TrainConfig] = None, **overrides: Any) -> None:
        self.model = model
        self.config = config or TrainConfig()
        for key, value in overrides.items():
            if not hasattr(self.config, key):
                raise TypeError(f"unknown training option {key!r}; valid: {', '.join(asdict(self.config))}")
            setattr(self.config, key, value)
        self.history: List[Dict[str, float]] = []
        self.best_epoch = -1

    def loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.model.task == "regression":
            return F.mse_loss(logits, label)
        return F.binary_cross_entropy_with_logits(logits, label)

    def fit(self, train: EncodedArrays, valid: Optional[EncodedArrays] = None) -> List[Dict[str, float]]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        optimizers = build_optimizers(self.model, cfg.optimizer, cfg.lr, cfg.embedding_optimizer, cfg.embedding_lr,
                                      cfg.weight_decay)
        loader = BatchLoader(train, cfg.batch_size, cfg.shuffle, cfg.seed)
        best, best_state, waited = -np.inf, None, 0
        for epoch in range(cfg.epochs):
            self.model.train()
            start, seen, total = time.perf_counter(), 0, 0.0
            for batch in loader:
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss = self.loss(self.model(batch), batch.label)
                (loss + self.model.penalty()).backward()
                if cfg.clip_norm > 0:
                    torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.grad is not None
                                                    and not p.grad.is_sparse], cfg.clip_norm)
                for opt in optimizers:
                    opt.step()
                seen += len(batch)
                total += loss.item() * len(batch)
            row = {"epoch": epoch + 1, "train_loss": total / max(seen, 1),
                   "seconds": time.perf_counter() - start, "samples_per_second": seen / (time.perf_counter() - start)}
            if valid is not None:
                row.update({f"valid_{k}": v for k, v in self.evaluate(valid).items()})
                score = monitor_value({k[6:]: v for k, v in row.items() if k.startswith("valid_")}, cfg.monitor)
                if score > best + cfg.min_delta:
                    best, best_state, waited, self.best_epoch = score, copy.deepcopy(self.model.state_dict()), 0, epoch + 1
                else:
                    waited += 1
            self.history.append(row)
            if valid is not None and waited > cfg.patience:
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return self.history

    @torch.inference_mode()
    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (binary) or predictions (regression), float64 [N]."""
        self.model.eval()
        outs = [self.model(b) for b in BatchLoader(data, self.config.eval_batch_size, shuffle="none")]
        logits = torch.cat(outs).double()
        return (torch.sigmoid(logits) if self.model.task == "binary" else logits).numpy()

    def evaluate(self, data: EncodedArrays) -> Dict[str, float]:
        p = self.predict(data)
        if self.model.task == "regression":
            return regression_metrics(data.label, p)
        return binary_metrics(data.label, p)
