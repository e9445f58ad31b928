"""FinalNet's factorized interaction layer and the block built from it."""
from __future__ import annotations

from typing import List, Sequence, Union

import torch
from torch import nn

from .mlp import activation as make_activation, per_layer

RESIDUALS = ("concat", "sum")


class FactorizedInteraction(nn.Module):
    """A linear layer whose output multiplies two of its halves (Zhu et al., FINAL, SIGIR 2023,
    Sec. 3.1): [h_1, h_2] = W x + b, then [h_2, h_1 ⊙ h_2] (``concat``: the parameters of one
    Linear of the output width) or h_2 + h_1 ⊙ h_2 (``sum``: twice as many), so stacked layers
    raise the interaction order multiplicatively instead of only through activations.

    Args:
        input_dim, output_dim: the widths (``output_dim`` even for ``concat``).
        residual: ``concat`` or ``sum``.

    Shapes:
        x [B, input_dim] → [B, output_dim].
    """

    def __init__(self, input_dim: int, output_dim: int, residual: str = "concat") -> None:
        super().__init__()
        if residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {RESIDUALS}, got {residual!r}")
        if residual == "concat" and output_dim % 2:
            raise ValueError(f"a concat factorized layer needs an even width, got {output_dim}")
        self.residual = residual
        self.linear = nn.Linear(input_dim, output_dim * 2 if residual == "sum" else output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h2, h1 = self.linear(x).chunk(2, dim=-1)
        return torch.cat([h2, h1 * h2], dim=-1) if self.residual == "concat" else h2 + h1 * h2


class FactorizedBlock(nn.Module):
    """FINAL's block: (FactorizedInteraction → [BatchNorm] → activation → [Dropout]) per layer, an
    MLP whose linear layers are factorized interaction layers.

    Args:
        input_dim: the width of x.
        hidden_units: the layers' widths.
        activations, dropout: one for all layers or one per layer.
        batch_norm: a BatchNorm1d after each layer.
        residual: each layer's (``FactorizedInteraction``).

    Shapes:
        x [B, input_dim] → [B, hidden_units[-1]].
    """

    def __init__(self, input_dim: int, hidden_units: Sequence[int], activations: Union[str, Sequence[str]] = "relu",
                 dropout: Union[float, Sequence[float]] = 0.0, batch_norm: bool = True,
                 residual: str = "concat") -> None:
        super().__init__()
        layers: List[nn.Module] = []
        width = input_dim
        for units, act, p in zip(hidden_units, per_layer(activations, len(hidden_units), "activations"),
                                 per_layer(dropout, len(hidden_units), "dropout")):
            layers.append(FactorizedInteraction(width, units, residual))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(make_activation(act, units))
            if p > 0:
                layers.append(nn.Dropout(p))
            width = units
        self.net = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
