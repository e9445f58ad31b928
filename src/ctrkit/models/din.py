"""DIN (Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018, Eq. 3):
for each target field A paired with a behaviour sequence field that shares its embedding table,
v_U(A) = Σ_j a(e_j, v_A) e_j over the sequence (``nn.TargetAttention``: an MLP activation unit,
no softmax, padding weighs 0); ŷ = MLP([E without the sequence fields, v_U(A) for each pair])
with Dice activations (Eq. 14).

A pair is declared in the schema by ``share_embedding`` on the sequence field (``hist_item:
{type: sequence, share_embedding: item}``); DIN pairs every such sequence field with the
categorical field it shares with, or takes ``behaviors: {target: sequence}``."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn

from ..data.batch import Batch
from ..features.feature_map import FeatureMap
from ..nn.mlp import MLP
from ..nn.target_attention import TargetAttention
from .base import CTRModel, register


def behavior_pairs(feature_map: FeatureMap, behaviors: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """target field → sequence field: ``behaviors`` checked, or every sequence field that shares
    its table with a categorical field."""
    slots = {s.name: s for s in feature_map.fields}
    if behaviors is None:
        behaviors = {s.owner: s.name for s in feature_map.fields
                     if s.type == "sequence" and s.owner not in (None, s.name)
                     and getattr(slots.get(s.owner), "type", None) == "categorical"}
        if not behaviors:
            raise ValueError("DIN needs a target field and a behaviour sequence that shares its embedding: declare "
                             "the sequence with share_embedding: <target field> in the schema, or pass "
                             "behaviors: {target: sequence}")
    for target, history in behaviors.items():
        t, h = slots.get(target), slots.get(history)
        if t is None or h is None:
            raise ValueError(f"DIN behaviors: unknown field {target if t is None else history!r}; "
                             f"fields are {list(slots)}")
        if t.type != "categorical" or h.type != "sequence":
            raise ValueError(f"DIN behaviors: {target!r} must be categorical and {history!r} a sequence, "
                             f"got {t.type} and {h.type}")
        if (t.owner or t.name) != (h.owner or h.name):
            raise ValueError(f"DIN behaviors: {history!r} must share the embedding of {target!r} "
                             f"(share_embedding: {target} in its schema)")
    return dict(behaviors)


@register("din")
class DIN(CTRModel):
    """The module's equation: target attention over behaviour sequences, then an MLP.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        behaviors: target field → sequence field (default: from ``share_embedding``).
        attention_units, attention_activation: the activation unit's hidden widths and activation.
        dnn_units, dnn_activation, dnn_dropout, batch_norm: the MLP's (``nn.MLP``; the paper: 200-80, Dice).
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Zhou et al., Deep Interest Network for Click-Through Rate Prediction, KDD 2018"

    def __init__(self, feature_map, behaviors: Optional[Dict[str, str]] = None,
                 attention_units: Sequence[int] = (64, 16), attention_activation: str = "dice",
                 dnn_units: Sequence[int] = (200, 80), dnn_activation: Union[str, Sequence[str]] = "dice",
                 dnn_dropout: float = 0.0, batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        self.behaviors = behavior_pairs(feature_map, behaviors)
        self.embedding = self.field_embedding()
        names = self.embedding.names
        histories = set(self.behaviors.values())
        self.register_buffer("keep", torch.tensor([i for i, n in enumerate(names) if n not in histories],
                                                  dtype=torch.long), persistent=False)
        self.targets = [names.index(t) for t in self.behaviors]
        self.attention = nn.ModuleList(TargetAttention(self.embedding_dim, attention_units, attention_activation)
                                       for _ in self.behaviors)
        width = (len(self.keep) + len(self.behaviors)) * self.embedding_dim
        self.dnn = MLP(width, dnn_units, dnn_activation, dnn_dropout, batch_norm, output_dim=1)

    def _interests(self, batch: Batch, e: torch.Tensor):
        """v_U [B, D] and the weights [B, L] of each pair."""
        for history, position, attend in zip(self.behaviors.values(), self.targets, self.attention):
            rows, mask = self.embedding.sequence(batch, history)
            yield attend(e[:, position], rows, mask)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        parts = [e.index_select(1, self.keep).flatten(1)] + [v for v, _ in self._interests(batch, e)]
        return self.dnn(torch.cat(parts, dim=1)).squeeze(-1)

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """Per sequence field [B, L]: sequence_weights a(e_j, v_A) (0 at padding), sequence_masks
        (a real item) and target_matches (the item is the row's target A)."""
        weights = [w for _, w in self._interests(batch, self.embedding(batch))]
        masks, matches = {}, {}
        for target, history in self.behaviors.items():
            ids = batch.seq[:, self.embedding.slot(history).index]
            masks[history] = ids > 0
            matches[history] = (ids == batch.cat[:, self.embedding.slot(target).index, None]) & masks[history]
        return {"fields": self.embedding.names, "sequence_weights": dict(zip(self.behaviors.values(), weights)),
                "sequence_masks": masks, "target_matches": matches}
