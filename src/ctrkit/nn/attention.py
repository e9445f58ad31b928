"""Multi-head self-attention over fields (the interacting layer of AutoInt)."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadSelfAttention(nn.Module):
    """AutoInt's interacting layer (Song et al., CIKM 2019, Eq. 5-8), x [B, F, D_in] → [B, F, H·d].

    α^(h)_{m,k} = softmax_k(⟨W_Q^(h) e_m, W_K^(h) e_k⟩ [/ √d]),  ẽ^(h)_m = Σ_k α^(h)_{m,k} W_V^(h) e_k,
    ẽ_m = ẽ^(1)_m ⊕ … ⊕ ẽ^(H)_m,  e^Res_m = ReLU(ẽ_m + W_Res e_m).
    Q/K/V projections have no bias; the residual projects only when D_in ≠ H·d (else identity);
    optional layer norm before the ReLU. Uses ``scaled_dot_product_attention`` unless the weights
    are requested, in which case the same math runs explicitly and α [B, H, F, F] is returned.
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

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape
        return x.view(b, f, self.heads, self.attention_dim).transpose(1, 2)   # [B, H, F, d]

    def forward(self, x: torch.Tensor, return_weights: bool = False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        p = self.dropout if self.training else 0.0
        if return_weights:
            weights = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
            out = F.dropout(weights, p, self.training) @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
        out = out.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.output_dim)
        if self.residual is not None:
            out = out + self.residual(x)
        if self.norm is not None:
            out = self.norm(out)
        if self.relu:
            out = torch.relu(out)
        return out, weights
