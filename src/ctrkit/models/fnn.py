"""FNN (Zhang et al., "Deep Learning over Multi-field Categorical Data", ECIR 2016, Eq. 1-4):
ŷ = MLP(z) with z = (z_1, …, z_F), z_i = (w_i, e_i): each field's first-order weight and
embedding. Two-stage recipe: ``FNN.from_fm`` starts w and E from a trained FM, then trains the
MLP with the embeddings fine-tuned or frozen."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.embedding import FieldEmbedding
from ..nn.folded_mlp import FoldedMLP, LogitSum
from ..nn.mlp import MLP
from .base import CTRModel, register
from .fm import FM


@register("fnn")
class FNN(CTRModel):
    """The module's equation: an MLP over each field's (w_i, e_i).

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths, activation,
            dropout and batch norm (``nn.MLP``).
        use_first_order: z_i includes the first-order weight w_i (the paper's z_i = (w_i, e_i)).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Zhang et al., Deep Learning over Multi-field Categorical Data (FNN), ECIR 2016"
    bf16_pays = True   # AVX512-BF16 CPU: 1.63-1.81 times the float32 rate, AUC within 0.001 (README, Precision)

    def __init__(self, feature_map, dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, use_first_order: bool = True, **common) -> None:
        super().__init__(feature_map, **common)
        self.embedding = self.field_embedding()
        self.first_order = self.field_embedding(dim=1) if use_first_order else None
        width = self.embedding.num_fields * (self.embedding_dim + int(use_first_order))
        self.dnn = MLP(width, dnn_units, dnn_activation, dnn_dropout, batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        z = self.embed(self.embedding, batch)
        if self.first_order is not None:
            z = torch.cat([self.first_order(batch), z], dim=-1)     # z_i = (w_i, e_i)
        return self.dnn(z.flatten(1)).squeeze(-1)

    def _inputs(self) -> List[FieldEmbedding]:
        """The embeddings whose vectors, side by side per field, make z."""
        return ([self.first_order] if self.first_order is not None else []) + [self.embedding]

    def scorer(self, rows: Optional[int] = None) -> nn.Module:
        """The MLP with its first layer folded into a table (``nn.FoldedMLP``) when that pays."""
        if FoldedMLP.pays(self._inputs(), self.dnn, rows=rows):
            return LogitSum(FoldedMLP(self._inputs(), self.dnn))
        return self

    def load_fm(self, fm: FM, freeze: bool = False) -> "FNN":
        """Copy a trained FM's embeddings (and first-order weights) into this FNN; ``freeze``
        stops them from training further."""
        if fm.embedding_dim != self.embedding_dim:
            raise ValueError(f"the FM has embedding_dim {fm.embedding_dim}, this FNN {self.embedding_dim}")
        self.embedding.load_state_dict(fm.embedding.state_dict())
        if self.first_order is not None:
            self.first_order.load_state_dict(fm.linear.weights.state_dict())
        frozen = [self.embedding] + ([self.first_order] if self.first_order is not None else [])
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(not freeze)
        return self

    @classmethod
    def from_fm(cls, fm: FM, freeze: bool = False, **options) -> "FNN":
        """An FNN on the FM's feature map whose embeddings start from the FM's (two-stage FNN)."""
        options.setdefault("embedding_dim", fm.embedding_dim)
        return cls(fm.feature_map, **options).load_fm(fm, freeze)
