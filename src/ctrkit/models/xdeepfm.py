"""xDeepFM (Lian et al., "xDeepFM: Combining Explicit and Implicit Feature Interactions for
Recommender Systems", KDD 2018, Eq. 6-9):
ŷ = b + Σ w_x + w_cinᵀ p⁺ + MLP(flatten(E)), where p⁺ are the sum-pooled feature maps of the
compressed interaction network (``nn.CompressedInteraction``) over X^0 = E."""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.cin import CompressedInteraction
from ..nn.mlp import MLP
from .base import CTRModel, register


@register("xdeepfm")
class XDeepFM(CTRModel):
    """The module's equation: LR, a CIN and an MLP over one shared embedding table.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        cin_layer_sizes: H_1, …, H_T, the feature maps per CIN layer.
        cin_activation: applied to each CIN layer (Eq. 6: ``identity``).
        cin_split_half: half of each hidden CIN layer to the output, half onwards (the authors' code).
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths (none: no MLP),
            activation, dropout and batch norm (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Lian et al., xDeepFM, KDD 2018"

    def __init__(self, feature_map, cin_layer_sizes: Sequence[int] = (128, 128), cin_activation: str = "identity",
                 cin_split_half: bool = True, dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()
        self.cin = CompressedInteraction(self.embedding.num_fields, cin_layer_sizes, cin_activation, cin_split_half)
        self.cin_output = nn.Linear(self.cin.output_dim, 1, bias=False)
        self.dnn = (MLP(self.embedding.num_fields * self.embedding_dim, dnn_units, dnn_activation, dnn_dropout,
                        batch_norm, output_dim=1) if dnn_units else None)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        logit = self.linear(batch) + self.cin_output(self.cin(e)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        return logit
