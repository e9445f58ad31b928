"""DCN (Wang et al., "Deep & Cross Network for Ad Click Predictions", ADKDD 2017, Eq. 3-5) and
DCN-V2 (Wang et al., "DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale
Learning to Rank Systems", WWW 2021, Eq. 1-4), over x_0 = flatten(E).

DCN: ŷ = wᵀ [x_L, h_L] + b, with the cross network x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l beside
an MLP h_L = MLP(x_0). DCN-V2: cross layers x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l (full rank,
low rank W = U Vᵀ, or a mixture of low-rank experts), combined with the MLP in parallel
(ŷ = wᵀ [x_L, MLP(x_0)] + b) or stacked (ŷ = wᵀ MLP(x_L) + b)."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.cross import CrossNet, CrossNetV2
from ..nn.mlp import MLP
from .base import CTRModel, register

STRUCTURES = ("parallel", "stacked")


@register("dcn")
class DCN(CTRModel):
    """The module's equation: a cross network beside an MLP, both over flatten(E).

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        cross_layers: L.
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's hidden widths (none: the
            paper's cross-network-only model), activation, dropout and batch norm (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Wang et al., Deep & Cross Network for Ad Click Predictions, ADKDD 2017"

    def __init__(self, feature_map, cross_layers: int = 3, dnn_units: Sequence[int] = (400, 400, 400),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.embedding = self.field_embedding()
        width = self.embedding.num_fields * self.embedding_dim
        self.cross = CrossNet(width, cross_layers)
        self.dnn = MLP(width, dnn_units, dnn_activation, dnn_dropout, batch_norm) if dnn_units else None
        self.output = nn.Linear(width + (self.dnn.output_dim if self.dnn is not None else 0), 1)

    def forward(self, batch: Batch) -> torch.Tensor:
        x0 = self.embed(self.embedding, batch).flatten(1)
        parts = [self.cross(x0)] + ([self.dnn(x0)] if self.dnn is not None else [])
        return self.output(torch.cat(parts, dim=1)).squeeze(-1)


@register("dcnv2")
class DCNv2(CTRModel):
    """The module's equation: DCN-V2 cross layers with an MLP, in parallel or stacked.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        cross_layers: L.
        low_rank: r for low-rank cross layers, or None for full-rank W_l.
        experts: K low-rank experts per layer (the paper's DCN-Mix; needs ``low_rank``).
        low_rank_activation: g in the low-rank space (e.g. ``tanh``; needs ``low_rank``).
        structure: ``parallel`` or ``stacked``.
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's (``nn.MLP``); none: cross
            layers only.
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Wang et al., DCN V2, WWW 2021"

    def __init__(self, feature_map, cross_layers: int = 3, low_rank: Optional[int] = None, experts: int = 1,
                 low_rank_activation: Optional[str] = None, structure: str = "parallel",
                 dnn_units: Sequence[int] = (400, 400, 400), dnn_activation: Union[str, Sequence[str]] = "relu",
                 dnn_dropout: float = 0.0, batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
        self.embedding = self.field_embedding()
        width = self.embedding.num_fields * self.embedding_dim
        self.structure = structure
        self.cross = CrossNetV2(width, cross_layers, low_rank, experts, low_rank_activation)
        self.dnn = MLP(width, dnn_units, dnn_activation, dnn_dropout, batch_norm) if dnn_units else None
        deep = self.dnn.output_dim if self.dnn is not None else 0
        self.output = nn.Linear(width + deep if structure == "parallel" or self.dnn is None else deep, 1)

    def forward(self, batch: Batch) -> torch.Tensor:
        x0 = self.embed(self.embedding, batch).flatten(1)
        x = self.cross(x0)
        if self.dnn is not None:
            x = torch.cat([x, self.dnn(x0)], dim=1) if self.structure == "parallel" else self.dnn(x)
        return self.output(x).squeeze(-1)

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """matrix [B, F, F]: ‖W[i, j]‖_F, the size of the cross weights that field j of x_l sends to
        field i of x_0, averaged over layers (the same for every row; {} for layers with a mixture
        of experts or a low-rank activation, which have no single matrix)."""
        weights = self.cross.field_weights(self.embedding.num_fields)
        if weights is None:
            return {}
        return {"fields": self.embedding.names, "matrix": weights.expand(len(batch), -1, -1),
                "what": "DCN-V2 cross weights ‖W_ij‖ (mean over layers; row = field of x_0)"}
