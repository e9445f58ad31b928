"""FrozenFM: LR and FM logits for prediction, from sums over fields of weights frozen at construction."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..data.batch import Batch
from .embedding import FieldEmbedding
from .linear import LinearTerm


class FrozenFM(nn.Module):
    """ŷ = b + Σ_f w_f, plus, given an embedding, ½ (‖Σ_f e_f‖² − Σ_f ‖e_f‖²) (Rendle 2010, Eq. 5),
    for prediction only: batch → logits [B], equal to the LR or FM forward in eval mode.

    Each of the three sums is a sum over fields, so categorical fields take one ``embedding_bag``
    (sum) over the table [w | W | ‖W‖²] [V, D + 2] built here, and numeric fields (e_f = x_f·v_f)
    add two small matmuls. No [B, F, D] tensor is made (docs/performance.md). Later changes of the
    model's weights are not seen: build a new one.

    Args:
        linear: the model's LR term.
        embedding: its field embedding (FM), or None (LR).

    Shapes:
        Batch of B rows → logits [B].
    """

    def __init__(self, linear: LinearTerm, embedding: Optional[FieldEmbedding] = None) -> None:
        super().__init__()
        if not self.supports(linear, embedding):
            raise ValueError("FrozenFM needs the linear term and embedding over the same categorical and numeric "
                             "fields, without sequence fields or tables of their own")
        weights = linear.weights
        with torch.no_grad():
            table = [weights.table.weight]
            numeric = [weights.numeric_weight] if weights.numeric_weight is not None else []
            if embedding is not None:
                rows = embedding.table.weight
                table += [rows, rows.pow(2).sum(1, keepdim=True)]
                if embedding.numeric_weight is not None:
                    v = embedding.numeric_weight
                    numeric += [v, v.pow(2).sum(1, keepdim=True)]
            self.register_buffer("table", torch.cat(table, 1).float().contiguous())
            self.register_buffer("numeric", torch.cat(numeric, 1).float() if numeric else None)
            self.register_buffer("bias", linear.bias.detach().float().clone())
        self.register_buffer("cat_index", weights.cat_index.clone())
        self.register_buffer("num_index", weights.num_index.clone())
        self.all_categorical = weights.all_categorical
        self.dim = 0 if embedding is None else embedding.dim
        self.eval()   # for prediction only

    @staticmethod
    def supports(linear: LinearTerm, embedding: Optional[FieldEmbedding] = None) -> bool:
        """Whether the modules hold only shared-table categorical and numeric fields (the same ones)."""
        modules = [linear.weights] + ([embedding] if embedding is not None else [])
        plain = all(m.shared_table_only for m in modules)
        return plain and all(m.names == linear.weights.names for m in modules)

    @classmethod
    def pays(cls, linear: LinearTerm, embedding: Optional[FieldEmbedding] = None, rows: Optional[int] = None) -> bool:
        """Whether FrozenFM ``supports`` the modules and, for ``rows`` rows (None: any number), would
        look up at least as many ids as its table has rows, the work of building it."""
        ids = None if rows is None else rows * linear.weights.num_fields
        return cls.supports(linear, embedding) and (ids is None or ids >= linear.weights.table.num_embeddings)

    def forward(self, batch: Batch) -> torch.Tensor:
        with torch.autocast(batch.cat.device.type, enabled=False):
            ids = batch.cat if self.all_categorical else batch.cat.index_select(1, self.cat_index)
            # the int32 ids as they are: a copy to int64 was slower (docs/performance.md)
            if ids.shape[1]:
                sums = nn.functional.embedding_bag(ids, self.table, mode="sum")   # [B, 1 (+ D + 1)]
            else:   # numeric fields only
                sums = self.table.new_zeros(ids.shape[0], self.table.shape[1])
            if self.numeric is not None:
                x = batch.num.index_select(1, self.num_index)
                d = self.dim
                sums[:, :d + 1] += x @ self.numeric[:, :d + 1]
                if d:
                    sums[:, d + 1] += (x * x) @ self.numeric[:, d + 1]
            logits = self.bias + sums[:, 0]
            if self.dim:
                s = sums[:, 1:self.dim + 1]
                logits = logits + 0.5 * ((s * s).sum(1) - sums[:, self.dim + 1])
        return logits
