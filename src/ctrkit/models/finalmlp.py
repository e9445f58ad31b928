"""FinalMLP (Mao et al., "FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction", AAAI
2023, Eq. 1-5): two MLP streams over x = flatten(E), each behind its own feature-selection gate
x'_k = 2σ(MLP_k(c_k)) ⊙ x (c_k: the embeddings of the stream's context fields, or a learned
vector), fused by the multi-head bilinear ŷ = Σ_h (b + w_1ᵀo_1^h + w_2ᵀo_2^h + o_1^hᵀ W_3^h o_2^h).
The context embeddings are E's rows of those fields (no second table)."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from ..data.batch import Batch
from ..nn.fusion import BilinearFusion
from ..nn.gating import FeatureSelection
from ..nn.mlp import MLP
from .base import CTRModel, register


@register("finalmlp")
class FinalMLP(CTRModel):
    """The module's equation: two gated MLP streams and their bilinear fusion.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        mlp1_units, mlp2_units: the two streams' hidden widths.
        mlp1_dropout, mlp2_dropout: their dropout.
        dnn_activation, batch_norm: both streams' activation and batch norm (``nn.MLP``).
        feature_selection: gate the streams' inputs (off: both read x).
        fs_hidden_units: the gate MLPs' hidden widths.
        fs1_context, fs2_context: the context fields of each stream's gate (none: a learned vector).
        fusion_heads: H, dividing both streams' output widths.
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Mao et al., FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction, AAAI 2023"

    def __init__(self, feature_map, mlp1_units: Sequence[int] = (400, 400, 400), mlp2_units: Sequence[int] = (800,),
                 mlp1_dropout: float = 0.0, mlp2_dropout: float = 0.0,
                 dnn_activation: Union[str, Sequence[str]] = "relu", batch_norm: bool = False,
                 feature_selection: bool = True, fs_hidden_units: Sequence[int] = (800,),
                 fs1_context: Sequence[str] = (), fs2_context: Sequence[str] = (), fusion_heads: int = 1,
                 **common) -> None:
        super().__init__(feature_map, **common)
        if not mlp1_units or not mlp2_units:
            raise ValueError("FinalMLP: both streams need at least one hidden layer (mlp1_units, mlp2_units)")
        self.embedding = self.field_embedding()
        f, d = self.embedding.num_fields, self.embedding_dim
        self.mlp1 = MLP(f * d, mlp1_units, dnn_activation, mlp1_dropout, batch_norm)
        self.mlp2 = MLP(f * d, mlp2_units, dnn_activation, mlp2_dropout, batch_norm)
        self.contexts = [self._positions(fs1_context), self._positions(fs2_context)]
        self.gates = torch.nn.ModuleList(
            FeatureSelection(f * d, len(c) * d, d, fs_hidden_units) for c in self.contexts) if feature_selection else None
        self.fusion = BilinearFusion(self.mlp1.output_dim, self.mlp2.output_dim, fusion_heads)

    def _positions(self, fields: Sequence[str]) -> list:
        names = self.embedding.names
        unknown = [n for n in fields if n not in names]
        if unknown:
            raise ValueError(f"FinalMLP context field(s) {unknown} not among the embedded fields {names}")
        return [names.index(n) for n in fields]

    def _context(self, e: torch.Tensor, positions: list) -> Optional[torch.Tensor]:
        return e[:, positions].flatten(1) if positions else None

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        x = e.flatten(1)
        if self.gates is None:
            x1 = x2 = x
        else:
            x1, x2 = (gate(x, self._context(e, c)) for gate, c in zip(self.gates, self.contexts))
        return self.fusion(self.mlp1(x1), self.mlp2(x2))
