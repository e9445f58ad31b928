"""FM (Rendle, "Factorization Machines", ICDM 2010, Eq. 1 and 5):
ŷ = b + Σ w_x + Σ_{i<j} ⟨e_i, e_j⟩, the pair sum computed as ½ Σ_d [(Σ_i e_id)² − Σ_i e_id²]."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.frozen_fm import FrozenFM
from ..nn.interaction import fm_second_order
from .base import CTRModel, register


@register("fm")
class FM(CTRModel):
    """The module's equation: LR plus the pairwise inner products of the field embeddings.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Rendle, Factorization Machines, ICDM 2010"

    def __init__(self, feature_map, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.linear(batch) + fm_second_order(self.embed(self.embedding, batch))

    def scorer(self, rows: Optional[int] = None) -> nn.Module:
        return FrozenFM(self.linear, self.embedding) if FrozenFM.pays(self.linear, self.embedding, rows=rows) else self
