"""PNN (Qu et al., "Product-based Neural Networks for User Response Prediction", ICDM 2016,
Eq. 3-14): ŷ = MLP([l_z, l_p]) where l_z is linear in the embeddings (flatten(E)) and l_p in the
product signals p: IPNN ⟨e_i, e_j⟩ for i < j (Eq. 9), OPNN the sum-pooled outer product
f_Σ f_Σᵀ (Eq. 14), PNN* both. The first hidden layer l_1 = ReLU(l_z + l_p + b_1) is the MLP's
first Linear over the concatenation."""
from __future__ import annotations

from typing import Sequence, Union

import torch

from ..data.batch import Batch
from ..nn.interaction import PairwiseDots, outer_product
from ..nn.mlp import MLP
from .base import CTRModel, register

PRODUCTS = ("inner", "outer", "both")


@register("pnn")
class PNN(CTRModel):
    """The module's equation: an MLP over the embeddings and their products.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        product: ``inner`` (IPNN), ``outer`` (OPNN) or ``both`` (PNN*).
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths, activation,
            dropout and batch norm (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Qu et al., Product-based Neural Networks for User Response Prediction, ICDM 2016"

    def __init__(self, feature_map, product: str = "inner", dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {', '.join(PRODUCTS)}, got {product!r}")
        self.embedding = self.field_embedding()
        f, d = self.embedding.num_fields, self.embedding_dim
        self.inner = PairwiseDots(f) if product in ("inner", "both") else None
        self.outer = product in ("outer", "both")
        width = f * d + (self.inner.num_pairs if self.inner is not None else 0) + (d * d if self.outer else 0)
        self.dnn = MLP(width, dnn_units, dnn_activation, dnn_dropout, batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        parts = [e.flatten(1)]                                   # l_z's input
        if self.inner is not None:
            parts.append(self.inner(e))                          # IPNN's p
        if self.outer:
            parts.append(outer_product(e))                       # OPNN's p
        return self.dnn(torch.cat(parts, dim=1)).squeeze(-1)
