"""AutoInt and AutoInt+ (Song et al., "AutoInt: Automatic Feature Interaction Learning via
Self-Attentive Neural Networks", CIKM 2019, Eq. 5-9):
ŷ = wᵀ flatten(e^(L)) + b, where e^(l) = InteractingLayer(e^(l−1)) and e^(0) = E (multi-head
self-attention over fields with a residual and ReLU). AutoInt+ adds MLP(flatten(E)) to the logit,
and optionally the LR term (``use_wide``). The attention layers run in blocks of rows (``in_row_chunks``),
in bfloat16 when training or prediction runs under bf16 autocast."""
from __future__ import annotations

from typing import Any, Dict, Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..nn.attention import MultiHeadSelfAttention
from ..nn.chunks import in_row_chunks
from ..nn.mlp import MLP
from .base import CTRModel, register


@register("autoint")
class AutoInt(CTRModel):
    """The module's equation: interacting layers of multi-head self-attention over the fields.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        attention_layers: L, the interacting layers.
        heads: H, heads per layer.
        attention_dim: d, the width of a head.
        use_scale: scores divided by √d.
        use_residual: the residual W_Res e_m.
        layer_norm: a layer norm in each layer.
        attention_dropout: dropout on the attention weights.
        use_wide: add the LR term to the logit.
        dnn_units: the hidden widths of an MLP over flatten(E) added to the logit (AutoInt+; none:
            AutoInt); dnn_activation, dnn_dropout, batch_norm: its other options (``nn.MLP``).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Default sizes (1 layer of 2 heads × 16) are the fastest of those measured whose valid AUC was
    within 0.001 of the best on Adult and synthetic data (``benchmarks/bench_sizes.py``, RESULTS.md
    "AutoInt's default sizes"); the paper's 3 layers of 2 × 32 trained 2.9-4.8 times slower with AUC
    lower by up to 0.0006, except AutoInt+ on synthetic data (+0.0048 AUC for them).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Song et al., AutoInt, CIKM 2019"
    bf16_pays = True   # measured at the former sizes (3 × 2 × 32) on an AVX512-BF16 CPU: 1.73-1.95 times the
    # float32 rate, AUC within 0.001 (RESULTS.md, "AutoInt's default sizes"); the new sizes are not measured

    def __init__(self, feature_map, attention_layers: int = 1, heads: int = 2, attention_dim: int = 16,
                 use_scale: bool = False, use_residual: bool = True, layer_norm: bool = False,
                 attention_dropout: float = 0.0, use_wide: bool = False, dnn_units: Sequence[int] = (),
                 dnn_activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.embedding = self.field_embedding()
        width = self.embedding_dim
        layers = []
        for _ in range(attention_layers):
            layers.append(MultiHeadSelfAttention(width, attention_dim, heads, use_scale, use_residual, layer_norm,
                                                 attention_dropout))
            width = layers[-1].output_dim
        self.attention = nn.ModuleList(layers)
        self._row_bytes = max((layer.row_bytes(self.embedding.num_fields) for layer in layers), default=0)
        self.output = nn.Linear(self.embedding.num_fields * width, 1)
        self.linear = self.linear_term() if use_wide else None
        self.dnn = (MLP(self.embedding.num_fields * self.embedding_dim, dnn_units, dnn_activation, dnn_dropout,
                        batch_norm, output_dim=1) if dnn_units else None)

    def _attend(self, e: torch.Tensor, keep_weights: bool):
        maps = []
        for layer in self.attention:
            e, weights = layer(e, return_weights=keep_weights)
            maps.append(weights)
        return e, maps

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        h = in_row_chunks(lambda x: self._attend(x, keep_weights=False)[0], e, self._row_bytes,
                          keep_autocast=True)   # bf16 attention pays on CPUs with bf16 (docs/performance.md)
        logit = self.output(h.flatten(1)).squeeze(-1)
        if self.dnn is not None:
            logit = logit + self.dnn(e.flatten(1)).squeeze(-1)
        if self.linear is not None:
            logit = logit + self.linear(batch)
        return logit

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """attention: one map [B, H, F, F] per interacting layer (row = query field)."""
        _, maps = self._attend(self.embedding(batch), keep_weights=True)
        return {"fields": self.embedding.names, "attention": maps}


@register("autoint+")
class AutoIntPlus(AutoInt):
    paper = "Song et al., AutoInt+ (AutoInt with a DNN), CIKM 2019"

    def __init__(self, feature_map, dnn_units: Sequence[int] = (400, 400, 400), **options) -> None:
        super().__init__(feature_map, dnn_units=dnn_units, **options)
