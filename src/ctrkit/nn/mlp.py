"""MLP with per-layer activation and dropout, optional batch norm and output layer."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from torch import nn


class Dice(nn.Module):
    """Dice activation (Zhou et al., DIN, KDD 2018, Eq. 14): p(s)·s + (1 − p(s))·α·s with
    p(s) = sigmoid(BN(s)), a data-adaptive PReLU."""

    def __init__(self, features: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(features, eps=eps, affine=False)
        self.alpha = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.norm(x))
        return p * x + (1 - p) * self.alpha * x


def activation(name: Union[str, nn.Module], features: int) -> nn.Module:
    """An activation by name: relu, tanh, sigmoid, prelu, dice, or any ``torch.nn`` class name."""
    if isinstance(name, nn.Module):
        return name
    key = name.lower()
    if key == "dice":
        return Dice(features)
    if key == "prelu":
        return nn.PReLU(features)
    builtin = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU,
               "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "identity": nn.Identity, "linear": nn.Identity}
    if key in builtin:
        return builtin[key]()
    cls = getattr(nn, name, None)
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return cls()
    raise ValueError(f"unknown activation {name!r}: use relu, tanh, sigmoid, prelu, dice or a torch.nn class name")


def per_layer(value, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what}: {len(value)} values for {n} hidden layers")
        return list(value)
    return [value] * n


class MLP(nn.Module):
    """(Linear → [BatchNorm] → activation → [Dropout]) per hidden layer, then an optional
    bias-carrying Linear output layer.

    Args:
        input_dim: the width of x.
        hidden_units: the widths of the hidden layers (none: only the output layer).
        activations: one activation for all hidden layers or one per layer (``activation``).
        dropout: dropout after each hidden layer's activation (one rate, or one per layer).
        batch_norm: a BatchNorm1d after each hidden Linear.
        output_dim: the output layer's width (None: no output layer).

    Shapes:
        x [B, input_dim] → [B, output_dim] (or [B, last hidden width]).
    """

    def __init__(self, input_dim: int, hidden_units: Sequence[int], activations: Union[str, Sequence[str]] = "relu",
                 dropout: Union[float, Sequence[float]] = 0.0, batch_norm: bool = False,
                 output_dim: Optional[int] = None) -> None:
        super().__init__()
        acts = per_layer(activations, len(hidden_units), "activations")
        drops = per_layer(dropout, len(hidden_units), "dropout")
        layers: List[nn.Module] = []
        width = input_dim
        for units, act, p in zip(hidden_units, acts, drops):
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            act_module = activation(act, units)
            # in place: the layer before keeps its input, not its output, for backward (1-2% of a
            # DeepFM step, steps of two models alternated in one process)
            layers.append(nn.ReLU(inplace=True) if type(act_module) is nn.ReLU else act_module)
            if p > 0:
                layers.append(nn.Dropout(p))
            width = units
        if output_dim is not None:
            layers.append(nn.Linear(width, output_dim))
            width = output_dim
        self.net = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
