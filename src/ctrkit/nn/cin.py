"""xDeepFM's compressed interaction network (CIN)."""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn

from .mlp import activation as make_activation


class CompressedInteraction(nn.Module):
    """CIN (Lian et al., xDeepFM, KDD 2018, Eq. 6-8), X^0 = E [B, F, D]:
    X^k_{h,:} = Σ_i Σ_j W^{k,h}_{ij} (X^{k−1}_{i,:} ⊙ X^0_{j,:}) for h = 1..H_k (Eq. 6),
    p^k_h = Σ_d X^k_{h,d} (Eq. 7), p⁺ = [p^1, …, p^T] (Eq. 8).

    Each layer is one matrix product [B·D, H_{k−1}·F] × [H_{k−1}·F, H_k] over the outer products of
    each embedding coordinate d (the paper's Fig. 4 as a 1×1 convolution), the maps kept [B, D, H]
    so that no layer transposes. ``split_half`` (the authors' code)
    sends half of a hidden layer's maps to the output and half to the next layer.

    Args:
        num_fields: F.
        layer_sizes: H_1, …, H_T.
        activation: applied to each X^k (Eq. 6 has none: ``identity``).
        split_half: split every layer but the last.

    Shapes:
        E [B, F, D] → p⁺ [B, ``output_dim``].
    """

    def __init__(self, num_fields: int, layer_sizes: Sequence[int] = (128, 128), activation: str = "identity",
                 split_half: bool = True) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.next_sizes: List[int] = []
        previous, self.output_dim = num_fields, 0
        for k, size in enumerate(layer_sizes):
            last = k == len(layer_sizes) - 1
            if split_half and not last and size % 2:
                raise ValueError(f"CIN layer size {size}: split_half needs even sizes but for the last layer")
            w = nn.Parameter(torch.empty(size, previous * num_fields))      # W^k [H_k, H_{k−1}·F]
            nn.init.xavier_uniform_(w)
            self.weights.append(w)
            passed = size // 2 if split_half and not last else size
            self.next_sizes.append(passed)
            self.output_dim += size - passed if split_half and not last else size
            previous = passed
        self.activation = make_activation(activation, 1)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        b, f, d = e.shape
        x0 = e.transpose(1, 2)                                                # [B, D, F]: one row per (row, d)
        x, pooled = x0, []
        for w, passed in zip(self.weights, self.next_sizes):
            z = (x.unsqueeze(-1) * x0.unsqueeze(-2)).reshape(b * d, -1)       # X^{k−1}_{i,d} X^0_{j,d} [B·D, H·F]
            h = self.activation(z @ w.t()).view(b, d, -1)                     # X^k transposed [B, D, H_k]: one GEMM
            if passed < h.shape[-1]:
                x, out = h[..., :passed], h[..., passed:]
            else:
                x, out = h, h
            pooled.append(out.sum(dim=1))
        return torch.cat(pooled, dim=1)
