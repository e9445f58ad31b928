"""FiBiNET's blocks: SENET field re-weighting and the bilinear interaction."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

BILINEAR_TYPES = ("field_all", "field_each", "field_interaction")


class SqueezeExcitation(nn.Module):
    """SENET over fields (Huang et al., FiBiNET, RecSys 2019, Eq. 3-5):
    z_i = mean_d e_{i,d} (squeeze), A = ReLU(W_2 ReLU(W_1 z)) (excitation, W_1 ∈ R^{F/r × F}),
    v_i = a_i · e_i (re-weight).

    Args:
        num_fields: F.
        reduction_ratio: r.

    Shapes:
        E [B, F, D] → V [B, F, D] and the field weights A [B, F].
    """

    def __init__(self, num_fields: int, reduction_ratio: float = 3.0) -> None:
        super().__init__()
        hidden = max(1, int(num_fields / reduction_ratio))
        self.excitation = nn.Sequential(nn.Linear(num_fields, hidden, bias=False), nn.ReLU(),
                                        nn.Linear(hidden, num_fields, bias=False), nn.ReLU())

    def forward(self, e: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        a = self.excitation(e.mean(dim=2))
        return e * a.unsqueeze(-1), a


class BilinearInteraction(nn.Module):
    """p_ij = (v_i · W) ⊙ v_j for i < j (FiBiNET, Eq. 6-8), with one W for all fields
    (``field_all``), one W_i per field (``field_each``) or one W_ij per pair (``field_interaction``).

    Args:
        num_fields: F.
        dim: D.
        kind: ``field_all``, ``field_each`` or ``field_interaction``.

    Shapes:
        V [B, F, D] → p [B, F(F−1)/2, D].
    """

    def __init__(self, num_fields: int, dim: int, kind: str = "field_interaction") -> None:
        super().__init__()
        if kind not in BILINEAR_TYPES:
            raise ValueError(f"bilinear type must be one of {', '.join(BILINEAR_TYPES)}, got {kind!r}")
        rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.kind = kind
        count = {"field_all": 1, "field_each": num_fields, "field_interaction": len(rows)}[kind]
        self.weight = nn.Parameter(torch.empty(count, dim, dim))
        for w in self.weight.data:
            nn.init.xavier_normal_(w)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        left, right = v.index_select(1, self.rows), v.index_select(1, self.cols)
        if self.kind == "field_all":
            return (left @ self.weight[0]) * right
        if self.kind == "field_each":
            return torch.einsum("bfd,fde->bfe", v, self.weight).index_select(1, self.rows) * right
        return torch.einsum("bpd,pde->bpe", left, self.weight) * right
