"""Optimizers by name, with a separate choice for the embedding tables."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

DENSE = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}
SPARSE = {"sparse_adam": torch.optim.SparseAdam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}


def sparse_tables(model: nn.Module) -> List[nn.Parameter]:
    """Weights of embedding tables that produce sparse gradients."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse and m.weight.requires_grad]


def build_optimizers(model: nn.Module, optimizer: str = "adam", lr: float = 1e-3,
                     embedding_optimizer: str = "sparse_adam", embedding_lr: float = 0.0,
                     weight_decay: float = 0.0) -> List[torch.optim.Optimizer]:
    """One optimizer for dense parameters and, if the model has sparse tables, one for those."""
    if optimizer not in DENSE:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(DENSE)}")
    sparse = sparse_tables(model)
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
    optimizers = []
    if dense:
        options = {"lr": lr, "weight_decay": weight_decay}
        if optimizer in ("adam", "adamw"):
            options["fused"] = True   # one kernel per step: faster on CPU (docs/performance.md)
        optimizers.append(DENSE[optimizer](dense, **options))
    if sparse:
        if embedding_optimizer not in SPARSE:
            raise ValueError(f"unknown embedding optimizer {embedding_optimizer!r}; choose from {', '.join(SPARSE)}")
        optimizers.append(SPARSE[embedding_optimizer](sparse, lr=embedding_lr or lr))
    return optimizers
