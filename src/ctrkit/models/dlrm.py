"""DLRM (Naumov et al., "Deep Learning Recommendation Model for Personalization and
Recommendation Systems", 2019, Sec. 2-3): a bottom MLP maps the numeric fields to one vector
d ∈ R^D beside the embeddings e_1..e_F of the other fields; the dot interaction takes
⟨z_i, z_j⟩ for i < j over Z = [d, e_1, …, e_F] (the reference code's ``dot``, without the
diagonal), and ŷ = top MLP([d, interactions])."""
from __future__ import annotations

from typing import Sequence, Union

import torch

from ..data.batch import Batch
from ..nn.interaction import PairwiseDots
from ..nn.mlp import MLP
from .base import CTRModel, register

INTERACTIONS = ("dot", "cat")


@register("dlrm")
class DLRM(CTRModel):
    """The module's equation: bottom MLP on numerics, dot interaction, top MLP.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        bottom_units: the bottom MLP's hidden widths before its last layer of width D (every layer
            with ``activation``, as the reference code); unused without numeric fields.
        top_units: the top MLP's hidden widths.
        interaction: ``dot`` (pairwise dot products) or ``cat`` (Z flattened, the reference's
            alternative).
        activation, dnn_dropout, batch_norm: the MLPs' activation, the top MLP's dropout and batch norm.
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Naumov et al., Deep Learning Recommendation Model (DLRM), 2019"

    def __init__(self, feature_map, bottom_units: Sequence[int] = (64,), top_units: Sequence[int] = (400, 400, 400),
                 interaction: str = "dot", activation: Union[str, Sequence[str]] = "relu", dnn_dropout: float = 0.0,
                 batch_norm: bool = False, **common) -> None:
        super().__init__(feature_map, **common)
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {', '.join(INTERACTIONS)}, got {interaction!r}")
        d = self.embedding_dim
        numeric = len(feature_map.of_type("numeric"))
        self.bottom = MLP(numeric, [*bottom_units, d], activation) if numeric else None
        others = [s.name for s in feature_map.fields if s.type != "numeric"]
        self.embedding = self.field_embedding(fields=others) if others else None
        vectors = len(others) + int(numeric > 0)
        if vectors == 0:
            raise ValueError("DLRM needs at least one field")
        self.interaction = PairwiseDots(vectors) if interaction == "dot" else None
        width = (self.interaction.num_pairs if self.interaction is not None else vectors * d) + (d if numeric else 0)
        self.top = MLP(width, top_units, activation, dnn_dropout, batch_norm, output_dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        vectors = []
        if self.bottom is not None:
            vectors.append(self.bottom(batch.num).unsqueeze(1))               # d [B, 1, D]
        if self.embedding is not None:
            vectors.append(self.embed(self.embedding, batch))                 # e_1..e_F [B, F, D]
        z = torch.cat(vectors, dim=1)
        parts = [z[:, 0]] if self.bottom is not None else []
        parts.append(self.interaction(z) if self.interaction is not None else z.flatten(1))
        return self.top(torch.cat(parts, dim=1)).squeeze(-1)
