"""Wide & Deep (Cheng et al., "Wide & Deep Learning for Recommender Systems", DLRS 2016, Eq. 3):
ŷ = w_wideᵀ [x, φ(x)] + w_deepᵀ a^(L) + b, here the LR term over every feature (crossed features
φ(x) enter as fields of their own) plus MLP(flatten(E))."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.folded_mlp import FoldedMLP, LogitSum
from ..nn.mlp import MLP
from .base import CTRModel, register


@register("widedeep")
class WideDeep(CTRModel):
    """The module's equation: the LR term plus an MLP over the field embeddings.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths, activation,
            dropout and batch norm (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Cheng et al., Wide & Deep Learning for Recommender Systems, DLRS 2016"

    def __init__(self, feature_map, dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()
        self.dnn = MLP(self.embedding.num_fields * self.embedding_dim, dnn_units, dnn_activation, dnn_dropout,
                       batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        return self.linear(batch) + self.dnn(e.flatten(1)).squeeze(-1)

    def scorer(self, rows: Optional[int] = None) -> nn.Module:
        """The MLP with its first layer folded into a table (``nn.FoldedMLP``) when that pays."""
        if FoldedMLP.pays([self.embedding], self.dnn, rows):
            return LogitSum(self.linear, FoldedMLP([self.embedding], self.dnn))
        return self
