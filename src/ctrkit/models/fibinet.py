"""FiBiNET (Huang et al., "FiBiNET: Combining Feature Importance and Bilinear feature Interaction
for Click-Through Rate Prediction", RecSys 2019, Eq. 3-10):
ŷ = b + Σ w_x + MLP([p, q]), with V = SENET(E) (field weights a_i, v_i = a_i e_i),
p = Bilinear(E) and q = Bilinear(V) over the field pairs."""
from __future__ import annotations

from typing import Any, Dict, Sequence, Union

import torch

from ..data.batch import Batch
from ..nn.mlp import MLP
from ..nn.senet import BilinearInteraction, SqueezeExcitation
from .base import CTRModel, register


@register("fibinet")
class FiBiNET(CTRModel):
    """The module's equation: LR plus an MLP over the bilinear interactions of E and SENET(E).

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        reduction_ratio: SENET's r.
        bilinear_type: ``field_all``, ``field_each`` or ``field_interaction`` (``nn.BilinearInteraction``).
        shared_bilinear: one bilinear layer for E and V (the paper has two).
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths, activation,
            dropout and batch norm (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Huang et al., FiBiNET, RecSys 2019"

    def __init__(self, feature_map, reduction_ratio: float = 3.0, bilinear_type: str = "field_interaction",
                 shared_bilinear: bool = False, dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.linear = self.linear_term()
        self.embedding = self.field_embedding()
        f, d = self.embedding.num_fields, self.embedding_dim
        self.senet = SqueezeExcitation(f, reduction_ratio)
        self.bilinear = BilinearInteraction(f, d, bilinear_type)
        self.bilinear_v = self.bilinear if shared_bilinear else BilinearInteraction(f, d, bilinear_type)
        self.dnn = MLP(f * (f - 1) * d, dnn_units, dnn_activation, dnn_dropout, batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        v, _ = self.senet(e)
        pq = torch.cat([self.bilinear(e).flatten(1), self.bilinear_v(v).flatten(1)], dim=1)
        return self.linear(batch) + self.dnn(pq).squeeze(-1)

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """field_weights [B, F]: SENET's a_i per row (1 = unchanged, 0 = the field dropped)."""
        _, a = self.senet(self.embedding(batch))
        return {"fields": self.embedding.names, "field_weights": a}
