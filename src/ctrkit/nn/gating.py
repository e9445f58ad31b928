"""Input gates of the two-stream models: FinalMLP's feature selection and FinalNet's field gating."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .mlp import MLP


class FeatureSelection(nn.Module):
    """FinalMLP's stream-specific feature gate (Mao et al., AAAI 2023, Eq. 3):
    g = 2σ(MLP(c)), x' = g ⊙ x, where c is the flattened embedding of the stream's context fields,
    or a learned vector when the stream has none (the paper's "no condition" gate).

    Args:
        input_dim: the width of x (F·D).
        context_dim: the width of c, or 0 for a learned vector of width ``embedding_dim``.
        embedding_dim: D.
        hidden_units: the gate MLP's hidden widths (ReLU).

    Shapes:
        x [B, input_dim], c [B, context_dim] or None → x' [B, input_dim].
    """

    def __init__(self, input_dim: int, context_dim: int, embedding_dim: int, hidden_units: Sequence[int] = (64,)) -> None:
        super().__init__()
        # the learned vector starts small and random, not zero, so the gate's first layer learns from step one
        self.bias = nn.Parameter(torch.randn(1, embedding_dim) * 0.01) if context_dim == 0 else None
        self.gate = MLP(context_dim or embedding_dim, hidden_units, "relu", output_dim=input_dim)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor]) -> torch.Tensor:
        c = self.bias.expand(x.shape[0], -1) if context is None else context
        return 2 * torch.sigmoid(self.gate(c)) * x


class FieldGate(nn.Module):
    """FinalNet's field gating: g = W E + b over the field axis (W = 0, b = 1 at start), output
    [E, g ⊙ E] stacked along the fields (``concat``, 2F fields) or E + g ⊙ E (``sum``).

    Args:
        num_fields: F.
        residual: ``concat`` or ``sum``.

    Shapes:
        E [B, F, D] → [B, 2F, D] (concat) or [B, F, D] (sum).
    """

    def __init__(self, num_fields: int, residual: str = "concat") -> None:
        super().__init__()
        if residual not in ("concat", "sum"):
            raise ValueError(f"field gate residual must be concat or sum, got {residual!r}")
        self.residual = residual
        self.linear = nn.Linear(num_fields, num_fields)
        nn.init.zeros_(self.linear.weight)
        nn.init.ones_(self.linear.bias)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        gated = e * self.linear(e.transpose(1, 2)).transpose(1, 2)
        return torch.cat([e, gated], dim=1) if self.residual == "concat" else e + gated
