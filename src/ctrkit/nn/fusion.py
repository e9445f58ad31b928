"""FinalMLP's multi-head bilinear fusion of two streams."""
from __future__ import annotations

import torch
from torch import nn


class BilinearFusion(nn.Module):
    """ŷ = Σ_{h=1..H} BF(o_1^h, o_2^h), BF(x, y) = b + w_1ᵀx + w_2ᵀy + xᵀ W_3 y
    (Mao et al., FinalMLP, AAAI 2023, Eq. 4-5): o_1, o_2 are cut into H heads, each with its own W_3.

    Args:
        dim1, dim2: the widths of o_1 and o_2 (each divisible by ``heads``).
        heads: H.

    Shapes:
        o_1 [B, dim1], o_2 [B, dim2] → logits [B].
    """

    def __init__(self, dim1: int, dim2: int, heads: int = 1) -> None:
        super().__init__()
        if dim1 % heads or dim2 % heads:
            raise ValueError(f"fusion heads: {heads} must divide both stream widths ({dim1}, {dim2})")
        self.heads = heads
        self.w1 = nn.Linear(dim1, 1)                  # Σ_h (b_h + w_1^hᵀ o_1^h): one bias and one vector
        self.w2 = nn.Linear(dim2, 1, bias=False)
        self.w3 = nn.Parameter(torch.empty(heads, dim1 // heads, dim2 // heads))
        nn.init.xavier_normal_(self.w3)

    def forward(self, o1: torch.Tensor, o2: torch.Tensor) -> torch.Tensor:
        x = o1.view(o1.shape[0], self.heads, -1)                             # [B, H, d1]
        y = o2.view(o2.shape[0], self.heads, -1)                             # [B, H, d2]
        bilinear = torch.einsum("bhi,hij,bhj->b", x, self.w3, y)             # Σ_h x_hᵀ W_3^h y_h
        return self.w1(o1).squeeze(-1) + self.w2(o2).squeeze(-1) + bilinear
