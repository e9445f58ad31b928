"""Attentional scoring of FiGNN (Li et al., CIKM 2019, §4.5, Eq. 11-12)."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from .mlp import MLP


class AttentionalScoring(nn.Module):
    """ŷ = Σ_i σ(MLP2(flatten H))_i · MLP1(h_i): a per-node score weighted by node attention.
    H [B, F, D] → logit [B] and node weights [B, F]."""

    def __init__(self, num_fields: int, dim: int, hidden_units: Sequence[int] = ()) -> None:
        super().__init__()
        self.score = MLP(dim, hidden_units, output_dim=1)
        self.weight = MLP(num_fields * dim, hidden_units, output_dim=num_fields)

    def forward(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(h).squeeze(-1)                          # [B, F]
        weights = torch.sigmoid(self.weight(h.flatten(1)))          # [B, F]
        return (weights * scores).sum(dim=1), weights
