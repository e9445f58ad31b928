"""Logistic regression: ŷ = b + Σ_features w_x (one weight per categorical id, w·x for numeric)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.frozen_fm import FrozenFM
from .base import CTRModel, register


@register("lr")
class LR(CTRModel):
    """The module's equation, one weight per feature.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "logistic regression (the first-order baseline of every CTR paper)"

    def __init__(self, feature_map, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.linear(batch)

    def scorer(self, rows: Optional[int] = None) -> nn.Module:
        return FrozenFM(self.linear) if FrozenFM.pays(self.linear, rows=rows) else self
