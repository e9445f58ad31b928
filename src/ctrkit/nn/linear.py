"""The first-order (LR) term."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from ..data.batch import Batch
from ..features.feature_map import FeatureMap
from .embedding import FieldEmbedding


class LinearTerm(nn.Module):
    """b + Σ_features w_x: one weight per categorical id (width-1 rows of the fused table,
    zero-initialised), w_f · x_f for numeric fields, pooled weights for sequences.

    Args:
        feature_map: the encoded fields.
        fields: the fields to include, by name or type (default: all).
        sparse: the weight table produces sparse gradients.

    Shapes:
        Batch of B rows → logits [B].
    """

    def __init__(self, feature_map: FeatureMap, fields: Optional[Sequence[str]] = None, sparse: bool = False) -> None:
        super().__init__()
        self.weights = FieldEmbedding(feature_map, 1, fields, sparse, init_std=0.0)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.bias + self.weights(batch).sum(dim=(1, 2))
