"""Multi-head self-attention over fields (the interacting layer of AutoInt), with the options of
FuxiCTR's attention block (``use_scale``, ``use_residual``, ``layer_norm``), whose variant it follows."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


# CPU softmax over a last dimension shorter than this (one AVX-512 vector of floats) runs slower than
# over dim 1; from 16 on, the last dimension is faster (docs/performance.md)
SHORT_SOFTMAX = 16


class MultiHeadSelfAttention(nn.Module):
    """AutoInt's interacting layer (Song et al., CIKM 2019, Eq. 5-8), x [B, F, D_in] → [B, F, H·d].

    α^(h)_{m,k} = softmax_k(⟨W_Q^(h) e_m, W_K^(h) e_k⟩ [/ √d]),  ẽ^(h)_m = Σ_k α^(h)_{m,k} W_V^(h) e_k,
    ẽ_m = ẽ^(1)_m ⊕ … ⊕ ẽ^(H)_m,  e^Res_m = ReLU(ẽ_m + W_Res e_m).
    Q/K/V projections have no bias; the residual projects only when D_in ≠ H·d (else identity);
    optional layer norm before the ReLU.

    The attention runs as explicit batched matmuls and a softmax over Q, K, V laid out [B·H, F, d]
    by one projection and one copy, faster on CPU than ``scaled_dot_product_attention``, whose CPU
    kernel is built for long sequences, not tens of fields (docs/performance.md).

    Args:
        input_dim: D_in, the width of each field's vector.
        attention_dim: d, the width of a head.
        heads: H.
        use_scale: divide the scores by √d.
        use_residual: add W_Res e_m (identity when D_in = H·d).
        layer_norm: a layer norm before the ReLU.
        dropout: dropout on the attention weights while training.
        relu: the final ReLU.

    Shapes:
        x [B, F, D_in] → [B, F, H·d] and, with ``return_weights``, α [B, H, F, F] (row = query field).
    """

    def __init__(self, input_dim: int, attention_dim: int = 16, heads: int = 2, use_scale: bool = False,
                 use_residual: bool = True, layer_norm: bool = False, dropout: float = 0.0,
                 relu: bool = True) -> None:
        super().__init__()
        self.heads, self.attention_dim = heads, attention_dim
        out = heads * attention_dim
        self.query = nn.Linear(input_dim, out, bias=False)
        self.key = nn.Linear(input_dim, out, bias=False)
        self.value = nn.Linear(input_dim, out, bias=False)
        self.residual: Optional[nn.Module] = None
        if use_residual:
            self.residual = nn.Linear(input_dim, out, bias=False) if input_dim != out else nn.Identity()
        self.norm = nn.LayerNorm(out) if layer_norm else None
        self.scale = 1.0 / math.sqrt(attention_dim) if use_scale else 1.0
        self.dropout = dropout
        self.relu = relu
        self.output_dim = out

    def row_bytes(self, num_fields: int) -> int:
        """Bytes of one row's largest float32 intermediate, Q/K/V/output [F, H·d] or the attention
        map [H, F, F] (for ``in_row_chunks``)."""
        return 4 * num_fields * max(self.output_dim, self.heads * num_fields)

    def forward(self, x: torch.Tensor, return_weights: bool = False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        b, f, _ = x.shape
        h, d = self.heads, self.attention_dim
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])
        q, k, v = F.linear(x, weight).view(b, f, 3, h, d).permute(2, 0, 3, 1, 4).reshape(3, b * h, f, d)
        weights = self._weights(q, k)                                           # α [B·H, F, F]
        out = torch.bmm(F.dropout(weights, self.dropout, self.training), v)      # ẽ^(h) [B·H, F, d]
        out = out.view(b, h, f, d).transpose(1, 2).reshape(b, f, self.output_dim)
        if self.residual is not None:
            out = out + self.residual(x)
        if self.norm is not None:
            out = self.norm(out)
        if self.relu:
            out = torch.relu(out)
        return out, (weights.reshape(b, h, f, f) if return_weights else None)

    def _weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """α [N, F, F] = softmax over keys of q kᵀ (scaled), for q, k [N, F, d].

        With fewer than ``SHORT_SOFTMAX`` fields the scores are laid out keys-first and normalised
        along dim 1, and α is returned as a transposed view (bmm reads it without a copy)."""
        if q.shape[1] < SHORT_SOFTMAX:
            scores, dim = torch.bmm(k, q.transpose(1, 2)), 1
        else:
            scores, dim = torch.bmm(q, k.transpose(1, 2)), 2
        if self.scale != 1.0:
            scores = scores * self.scale
        # in float32 under bf16 autocast: CPU softmax on bfloat16 is several times slower
        # (docs/performance.md); the bmm after it casts back to bf16
        weights = torch.softmax(scores, dim=dim, dtype=torch.float32 if scores.dtype == torch.bfloat16 else None)
        return weights.transpose(1, 2) if dim == 1 else weights
