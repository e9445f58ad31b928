"""AFM (Xiao et al., "Attentional Factorization Machines", IJCAI 2017, Eq. 3-5):
ŷ = b + Σ w_x + pᵀ Σ_{i<j} a_ij (e_i ⊙ e_j),  a_ij = softmax_{ij}(hᵀ ReLU(W (e_i ⊙ e_j) + b)),
with dropout on the pairwise products (``product_dropout``: the paper's dropout on the pair-wise
interacted layer, §3.3), on the pooled vector (``attention_dropout``, as FuxiCTR's AFM, whose option
names ctrkit follows) and optionally on the weights a_ij (``weight_dropout``). The weights a_ij are
what ``explain`` returns. The [B, F(F−1)/2, D] products are computed in blocks of rows
(``in_row_chunks``)."""
from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.chunks import in_row_chunks
from ..nn.interaction import AttentionalPooling, PairwiseProducts
from .base import CTRModel, register


@register("afm")
class AFM(CTRModel):
    """The module's equation: LR plus attention-weighted pairwise products.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        attention_dim: the attention network's hidden width.
        product_dropout: dropout on the pairwise products (the paper's §3.3).
        attention_dropout: dropout on the pooled vector (FuxiCTR's AFM).
        weight_dropout: dropout on the attention weights a_ij.
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Xiao et al., Attentional Factorization Machines, IJCAI 2017"

    def __init__(self, feature_map, attention_dim: int = 16, product_dropout: float = 0.0,
                 attention_dropout: float = 0.0, weight_dropout: float = 0.0, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()
        self.products = PairwiseProducts(self.embedding.num_fields)
        self.product_dropout = nn.Dropout(product_dropout)
        self.pooling = AttentionalPooling(self.embedding_dim, attention_dim, weight_dropout)
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.p = nn.Linear(self.embedding_dim, 1, bias=False)
        self._row_bytes = self.products.row_bytes(self.embedding_dim)

    def _interaction(self, batch: Batch):
        return in_row_chunks(self._pool, self.embed(self.embedding, batch), self._row_bytes)

    def _pool(self, e: torch.Tensor):
        pooled, weights = self.pooling(self.product_dropout(self.products(e)))
        return self.p(self.attention_dropout(pooled)).squeeze(-1), weights

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.linear(batch) + self._interaction(batch)[0]

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """pair_weights [B, F(F−1)/2]: a_ij for the pairs listed in ``pairs`` (field names)."""
        names = self.embedding.names
        _, weights = self._interaction(batch)
        return {"fields": names, "pairs": [(names[i], names[j]) for i, j in self.products.pairs()],
                "pair_weights": weights}
