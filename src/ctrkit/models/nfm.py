"""NFM (He & Chua, "Neural Factorization Machines for Sparse Predictive Analytics", SIGIR 2017,
Eq. 1-7): ŷ = b + Σ w_x + MLP(f_BI(E)), with the bi-interaction pooling
f_BI = Σ_{i<j} e_i ⊙ e_j (Eq. 4), dropout on f_BI (Sec. 3.3.1) and optional batch norm on it
(Sec. 3.3.2)."""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.interaction import bi_interaction
from ..nn.mlp import MLP
from .base import CTRModel, register


@register("nfm")
class NFM(CTRModel):
    """The module's equation: LR plus an MLP over the bi-interaction vector.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        bi_dropout: dropout on f_BI.
        bi_batch_norm: batch norm on f_BI.
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths, activation,
            dropout and batch norm (``nn.MLP``); no hidden layer is the paper's NFM-0 (= FM).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "He & Chua, Neural Factorization Machines, SIGIR 2017"

    def __init__(self, feature_map, bi_dropout: float = 0.0, bi_batch_norm: bool = False,
                 dnn_units: Sequence[int] = (400, 400, 400), dnn_activation: Union[str, Sequence[str]] = "relu",
                 dnn_dropout: float = 0.0, batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()
        pooled = [nn.BatchNorm1d(self.embedding_dim)] if bi_batch_norm else []
        self.bi_post = nn.Sequential(*pooled, nn.Dropout(bi_dropout))
        self.dnn = MLP(self.embedding_dim, dnn_units, dnn_activation, dnn_dropout, batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        f_bi = self.bi_post(bi_interaction(self.embed(self.embedding, batch)))
        return self.linear(batch) + self.dnn(f_bi).squeeze(-1)
