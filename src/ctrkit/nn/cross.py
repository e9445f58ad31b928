"""Cross networks: DCN's vector cross layers and DCN-V2's matrix, low-rank and mixture-of-experts
cross layers, over x_0 = flatten(E)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .mlp import activation as make_activation


class CrossNet(nn.Module):
    """DCN's cross network (Wang et al., ADKDD 2017, Eq. 3):
    x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l, with w_l, b_l ∈ R^n.

    Args:
        input_dim: n, the width of x_0.
        layers: L.

    Shapes:
        x_0 [B, n] → x_L [B, n].
    """

    def __init__(self, input_dim: int, layers: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(layers, input_dim))
        self.bias = nn.Parameter(torch.zeros(layers, input_dim))
        nn.init.normal_(self.weight, 0.0, (2.0 / (input_dim + 1)) ** 0.5)   # Xavier for each w_l [n, 1]

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, b in zip(self.weight, self.bias):
            x = x0 * (x @ w).unsqueeze(-1) + b + x
        return x


class CrossLayerV2(nn.Module):
    """One DCN-V2 cross layer (Wang et al., WWW 2021, Eq. 1-2 and 4).

    - full rank (``rank=None``): x_{l+1} = x_0 ⊙ (W x_l + b) + x_l, W ∈ R^{n×n};
    - low rank (``rank=r``, one expert, no activation): W = U Vᵀ with U, V ∈ R^{n×r};
    - mixture of low-rank experts (``experts=K``, optionally ``activation`` g):
      E_k(x_l) = x_0 ⊙ (U_k g(C_k g(V_kᵀ x_l)) + b),  x_{l+1} = Σ_k G_k(x_l) E_k(x_l) + x_l,
      G = softmax(W_G x_l) over the K experts (C_k ∈ R^{r×r} only with g).

    Args:
        input_dim: n.
        rank: r, or None for a full-rank W.
        experts: K (with ``rank``).
        activation: g in the low-rank space (e.g. ``tanh``), or None.

    Shapes:
        x_0, x_l [B, n] → x_{l+1} [B, n].
    """

    def __init__(self, input_dim: int, rank: Optional[int] = None, experts: int = 1,
                 activation: Optional[str] = None) -> None:
        super().__init__()
        if rank is None and (experts != 1 or activation):
            raise ValueError("experts and a low-rank activation need a rank")
        self.bias = nn.Parameter(torch.zeros(input_dim))
        self.full = nn.Linear(input_dim, input_dim, bias=False) if rank is None else None
        self.gate = nn.Linear(input_dim, experts, bias=False) if rank is not None and experts > 1 else None
        self.g = make_activation(activation, rank) if activation else None
        if rank is not None:
            self.v = nn.Parameter(torch.empty(experts, input_dim, rank))
            self.u = nn.Parameter(torch.empty(experts, rank, input_dim))
            for p in (self.v, self.u):
                for k in range(experts):
                    nn.init.xavier_normal_(p[k])
            self.c = nn.Parameter(torch.stack([torch.eye(rank)] * experts)) if activation else None

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.full is not None:
            return x0 * (self.full(x) + self.bias) + x
        experts, n, rank = self.v.shape
        h = (x @ self.v.transpose(0, 1).reshape(n, experts * rank)).view(-1, experts, rank)   # V_kᵀ x_l, all k
        if self.g is not None:
            h = self.g(torch.einsum("bks,krs->bkr", self.g(h), self.c))     # C_k g(V_kᵀ x_l)
        if self.gate is not None:
            # Σ_k G_k (x_0 ⊙ (U_k h_k + b)) = x_0 ⊙ (Σ_k U_k (G_k h_k) + b) as the gates sum to 1: the
            # experts' outputs are never formed, one product over the K·r gated coordinates makes their sum
            h = h * torch.softmax(self.gate(x), dim=-1).unsqueeze(-1)
        return x0 * (h.flatten(1) @ self.u.reshape(experts * rank, n) + self.bias) + x

    def matrix(self) -> Optional[torch.Tensor]:
        """W [n, n] of a layer that has a plain matrix (full rank, or one low-rank expert without
        activation: U Vᵀ), else None."""
        if self.full is not None:
            return self.full.weight
        if self.gate is None and self.g is None:
            return (self.v[0] @ self.u[0]).t()
        return None


class CrossNetV2(nn.Module):
    """L ``CrossLayerV2`` layers: x_{l+1} = layer_l(x_0, x_l).

    Args:
        input_dim: n.
        layers: L.
        rank, experts, activation: each layer's (``CrossLayerV2``).

    Shapes:
        x_0 [B, n] → x_L [B, n].
    """

    def __init__(self, input_dim: int, layers: int = 3, rank: Optional[int] = None, experts: int = 1,
                 activation: Optional[str] = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CrossLayerV2(input_dim, rank, experts, activation) for _ in range(layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = layer(x0, x)
        return x

    def field_weights(self, num_fields: int) -> Optional[torch.Tensor]:
        """‖W_l[i, j]‖_F of the D × D block of W_l that field j of x_l sends to field i of x_0,
        averaged over the layers (the paper's Fig. 5): [F, F], or None without plain matrices."""
        blocks = []
        for layer in self.layers:
            w = layer.matrix()
            if w is None:
                return None
            d = w.shape[0] // num_fields
            blocks.append(w.detach().reshape(num_fields, d, num_fields, d).pow(2).sum((1, 3)).sqrt())
        return torch.stack(blocks).mean(0)
