"""DIN's local activation unit: attention of a target item over a behaviour sequence."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from torch import nn

from .mlp import MLP


class TargetAttention(nn.Module):
    """v_U = Σ_j a(e_j, v_A) · e_j (Zhou et al., DIN, KDD 2018, Eq. 3) with the activation unit
    a(e_j, v_A) = MLP([e_j, v_A, e_j − v_A, e_j ⊙ v_A]) → one score per position, NOT normalised
    by a softmax (the paper keeps the intensity of the user's interest); padding positions weigh 0.

    Args:
        dim: D, the width of the target and of the sequence's rows.
        hidden_units: the activation unit's hidden widths.
        activation: its activation (``dice`` as in the paper, or e.g. ``prelu``).

    Shapes:
        target [B, D], rows [B, L, D], mask [B, L] → v_U [B, D] and the weights [B, L].
    """

    def __init__(self, dim: int, hidden_units: Sequence[int] = (64, 16), activation: Union[str, Sequence[str]] = "dice"
                 ) -> None:
        super().__init__()
        self.unit = MLP(4 * dim, hidden_units, activation, output_dim=1)

    def forward(self, target: torch.Tensor, rows: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        q = target.unsqueeze(1).expand_as(rows)
        features = torch.cat([rows, q, rows - q, rows * q], dim=-1)                   # [B, L, 4D]
        scores = self.unit(features.flatten(0, 1)).view(rows.shape[0], rows.shape[1])
        weights = scores * mask.to(scores.dtype)
        return torch.bmm(weights.unsqueeze(1), rows).squeeze(1), weights
