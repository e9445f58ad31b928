"""Pairwise interaction blocks: FM second order and its vector form (bi-interaction), all pairwise
products, pairwise inner products, the sum-pooled outer product, AFM attention pooling."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


def fm_second_order(e: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} ⟨e_i, e_j⟩ = ½ (‖Σ_i e_i‖² − Σ_i ‖e_i‖²) (Rendle 2010, Eq. 5); e [B, F, D] → [B]."""
    return _FMSecondOrder.apply(e)


class _FMSecondOrder(torch.autograd.Function):
    """``fm_second_order`` with its gradient in closed form, ∂y/∂e_i = s − e_i for s = Σ_j e_j
    (Rendle 2010, Sec. III-C, with x = 1): one pass over E each way, where autograd through the
    squares and sums takes several (docs/performance.md)."""

    @staticmethod
    def forward(ctx, e: torch.Tensor) -> torch.Tensor:
        s = e.sum(dim=1)
        ctx.save_for_backward(e, s)
        x = e.flatten(1)
        return 0.5 * ((s * s).sum(dim=1) - (x * x).sum(dim=1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        e, s = ctx.saved_tensors
        return (s.unsqueeze(1) - e).mul_(grad[:, None, None])


def bi_interaction(e: torch.Tensor) -> torch.Tensor:
    """f_BI = Σ_{i<j} e_i ⊙ e_j = ½ ((Σ_i e_i)² − Σ_i e_i²) (He & Chua, NFM, SIGIR 2017, Eq. 4):
    e [B, F, D] → [B, D]; its sum over D is ``fm_second_order``."""
    s = e.sum(dim=1)
    return 0.5 * (s * s - (e * e).sum(dim=1))


def outer_product(e: torch.Tensor) -> torch.Tensor:
    """f_Σ f_Σᵀ with f_Σ = Σ_i e_i, flattened (Qu et al., PNN, ICDM 2016, Eq. 14: OPNN's
    sum-pooled outer products Σ_{i,j} e_i e_jᵀ): e [B, F, D] → [B, D·D]."""
    s = e.sum(dim=1)
    return (s.unsqueeze(2) * s.unsqueeze(1)).flatten(1)


class PairwiseDots(nn.Module):
    """⟨z_i, z_j⟩ for i < j: the strictly upper triangle of Z Zᵀ (IPNN's inner-product signals,
    DLRM's dot interaction), pairs in row-major order.

    Args:
        num_vectors: N, the vectors per row.

    Shapes:
        z [B, N, D] → [B, N(N−1)/2].
    """

    def __init__(self, num_vectors: int) -> None:
        super().__init__()
        rows, cols = torch.triu_indices(num_vectors, num_vectors, offset=1)
        self.register_buffer("flat", rows * num_vectors + cols, persistent=False)
        self.num_pairs = len(rows)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.bmm(z, z.transpose(1, 2)).flatten(1).index_select(1, self.flat)


class PairwiseProducts(nn.Module):
    """All e_i ⊙ e_j for i < j, by one index gather (pairs in row-major order, ``pairs()``).

    Args:
        num_fields: F.

    Shapes:
        e [B, F, D] → [B, F(F−1)/2, D].
    """

    def __init__(self, num_fields: int) -> None:
        super().__init__()
        rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return e.index_select(1, self.rows) * e.index_select(1, self.cols)

    def row_bytes(self, dim: int) -> int:
        """Bytes of one row's float32 products [F(F−1)/2, D] (for ``in_row_chunks``)."""
        return 4 * len(self.rows) * dim

    def pairs(self) -> list:
        return list(zip(self.rows.tolist(), self.cols.tolist()))


class AttentionalPooling(nn.Module):
    """AFM's attention-based pooling (Xiao et al., IJCAI 2017, Eq. 4-5):
    a'_ij = hᵀ ReLU(W (e_i ⊙ e_j) + b),  a_ij = softmax over pairs,  out = Σ a_ij (e_i ⊙ e_j).

    Args:
        dim: D, the width of the products.
        attention_dim: the attention network's hidden width.
        weight_dropout: dropout on the weights a_ij while training (FuxiCTR's AFM has it; off by
            default).

    Shapes:
        products [B, P, D] → pooled [B, D] and weights a [B, P] (before dropout).
    """

    def __init__(self, dim: int, attention_dim: int = 16, weight_dropout: float = 0.0) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, attention_dim), nn.ReLU(), nn.Linear(attention_dim, 1, bias=False))
        self.weight_dropout = nn.Dropout(weight_dropout)

    def forward(self, products: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.attention(products).squeeze(-1), dim=1)
        return torch.bmm(self.weight_dropout(weights).unsqueeze(1), products).squeeze(1), weights
