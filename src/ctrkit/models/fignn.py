"""FiGNN (Li et al., "Fi-GNN: Modeling Feature Interactions via Graph Neural Networks for CTR
Prediction", CIKM 2019, §4): fields are nodes of a complete graph.
h^0 = MultiHeadSelfAttention(E) (the paper; ``use_self_attention=False`` uses E directly);
A_ij = softmax_{j≠i} LeakyReLU(wᵀ[h_i ‖ h_j]);  T steps of a^t = W_in Σ_j A_ij W_out h_j + b,
h^t = GRU(a^t, h^{t−1}) + h^0;  ŷ = Σ_i a_i · MLP1(h_i) with a = σ(MLP2(flatten H)) (FuxiCTR's
scoring, the default) or a_i = MLP2(h_i) (the paper's Eq. 12: ``node_weights="node"``). The graph
layer, the scoring and their option names follow FuxiCTR's FiGNN. Computed in blocks of rows
(``in_row_chunks``)."""
from __future__ import annotations

from typing import Any, Dict

import torch

from ..data.batch import Batch
from ..nn.attention import MultiHeadSelfAttention
from ..nn.chunks import in_row_chunks
from ..nn.graph import FieldGraph
from ..nn.scoring import AttentionalScoring
from .base import CTRModel, register


@register("fignn")
class FiGNN(CTRModel):
    """The module's equation: a graph over the fields, GRU updates, attentional scoring.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        gnn_layers: T, the propagation steps.
        reuse_graph_layer: one graph layer for every step.
        use_gru: the GRU update (else h^t = a^t).
        use_residual: add the initial states after each step.
        use_self_attention: initial states from multi-head self-attention over E (the paper); else E.
        heads: the self-attention's heads (embedding_dim must be divisible by it).
        node_weights: ``flat`` (FuxiCTR's scoring) or ``node`` (the paper's Eq. 12).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Li et al., Fi-GNN, CIKM 2019"

    def __init__(self, feature_map, gnn_layers: int = 3, reuse_graph_layer: bool = False, use_gru: bool = True,
                 use_residual: bool = True, use_self_attention: bool = True, heads: int = 2,
                 node_weights: str = "flat", **common) -> None:
        super().__init__(feature_map, **common)
        self.embedding = self.field_embedding()
        d, f = self.embedding_dim, self.embedding.num_fields
        if use_self_attention and d % heads:
            raise ValueError(f"embedding_dim {d} must be divisible by heads {heads}")
        self.attention = (MultiHeadSelfAttention(d, d // heads, heads, use_scale=True, use_residual=True)
                          if use_self_attention else None)
        self.graph = FieldGraph(f, d, gnn_layers, reuse_graph_layer, use_gru, use_residual)
        self.scoring = AttentionalScoring(f, d, node_weights=node_weights)
        self._row_bytes = self.graph.row_bytes()

    def _run(self, batch: Batch):
        return in_row_chunks(self._graph, self.embed(self.embedding, batch), self._row_bytes)

    def _graph(self, h0: torch.Tensor):
        if self.attention is not None:
            h0, _ = self.attention(h0)
        h, edges = self.graph(h0)
        logit, nodes = self.scoring(h)
        return logit, edges, nodes

    def forward(self, batch: Batch) -> torch.Tensor:
        return self._run(batch)[0]

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """edges [B, F, F] (A_ij, zero diagonal) and nodes [B, F] (attentional scoring weights)."""
        _, edges, nodes = self._run(batch)
        return {"fields": self.embedding.names, "edges": edges, "nodes": nodes}
