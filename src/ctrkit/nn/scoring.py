"""Attentional scoring of FiGNN (Li et al., CIKM 2019, §4.5, Eq. 11-13).

The default weighs the nodes from all final states at once, σ(MLP2(flatten H)), as FuxiCTR's
FiGNN does (its ``FiGNN`` model; ctrkit follows that variant and its option names).
``node_weights="node"`` is the paper's form, each node weighed from its own state, a_i = MLP2(h_i).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from .mlp import MLP

NODE_WEIGHTS = ("flat", "node")


class AttentionalScoring(nn.Module):
    """ŷ = Σ_i a_i · MLP1(h_i): a per-node score (Eq. 11) weighted by node attention.

    Args:
        num_fields: F, the nodes.
        dim: D, the width of a node state.
        hidden_units: hidden layers of both MLPs (none: linear).
        node_weights: ``flat``: a = σ(MLP2(flatten H)) [F] (FuxiCTR's variant, the default);
            ``node``: a_i = MLP2(h_i), the paper's Eq. 12.

    Shapes:
        H [B, F, D] → logit [B], node weights a [B, F].
    """

    def __init__(self, num_fields: int, dim: int, hidden_units: Sequence[int] = (), node_weights: str = "flat") -> None:
        super().__init__()
        if node_weights not in NODE_WEIGHTS:
            raise ValueError(f"node_weights must be one of {NODE_WEIGHTS}, got {node_weights!r}")
        self.node_weights = node_weights
        self.score = MLP(dim, hidden_units, output_dim=1)
        self.weight = (MLP(num_fields * dim, hidden_units, output_dim=num_fields) if node_weights == "flat"
                       else MLP(dim, hidden_units, output_dim=1))

    def forward(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(h).squeeze(-1)                              # ŷ_i [B, F]
        if self.node_weights == "flat":
            weights = torch.sigmoid(self.weight(h.flatten(1)))          # [B, F]
        else:
            weights = self.weight(h).squeeze(-1)                        # a_i [B, F]
        return (weights * scores).sum(dim=1), weights
