"""FieldEmbedding: the field embeddings E [B, F, D] that every model consumes."""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import nn

from ..data.batch import Batch
from ..features.feature_map import FeatureMap, FieldSlot


class _Lookup(torch.autograd.Function):
    """Rows of a table with a dense gradient built by one ``index_add_``, on CPU several times
    faster than ``F.embedding``'s backward (docs/performance.md). The padding row's gradient is zero."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.rows, ctx.padding_idx = weight.shape[0], padding_idx
        return torch.nn.functional.embedding(ids, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        dim = grad.shape[-1]
        # int64 indices: index_add_ with int32 ones is far slower
        weight_grad = grad.new_zeros(ctx.rows, dim).index_add_(0, ids.reshape(-1).long(), grad.reshape(-1, dim))
        if ctx.padding_idx is not None:
            weight_grad[ctx.padding_idx] = 0
        return weight_grad, None, None


def lookup(table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """``table(ids)``; dense tables take the fast ``index_add_`` backward, sparse ones keep theirs."""
    if table.sparse or not table.weight.requires_grad:
        return table(ids)
    return _Lookup.apply(table.weight, ids, table.padding_idx)


class FieldEmbedding(nn.Module):
    """Embeds the fields of a batch into E [B, F, D].

    - categorical (and bucketed numeric) fields: rows of ONE fused table indexed by the processor's
      global ids, gathered for all such fields at once; row 0 is padding (zero, never updated);
    - numeric fields: ``x_f · v_f`` with a learned vector ``v_f`` per field;
    - sequence fields: masked mean or sum of their ids' rows (fields with pooling ``none`` are left
      out of E: ``sequence(batch, name)`` gives their [B, L, D] rows and mask);
    - a field with its own ``embedding_dim`` or pretrained vectors gets its own table (fields that
      share it use the same one) and a bias-free projection to D when the sizes differ; pretrained
      tables can be frozen.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        dim: D. ``dim=1`` with ``init_std=0`` gives the first-order (LR) weights.
        fields: the fields to embed, by name or type (default: all).
        sparse: the tables produce sparse gradients (for row-wise optimizers).
        init_std: the standard deviation of the initial weights.

    Shapes:
        Batch of B rows → E [B, F, D], fields in the order of ``names``.
    """

    def __init__(self, feature_map: FeatureMap, dim: int, fields: Optional[Sequence[str]] = None,
                 sparse: bool = False, init_std: float = 0.01) -> None:
        super().__init__()
        self.dim = dim
        slots = [s for s in feature_map.select(fields) if not (s.type == "sequence" and s.pooling == "none")]
        self.slots: List[FieldSlot] = slots
        self.unpooled = {s.name: s for s in feature_map.select(fields) if s.type == "sequence" and s.pooling == "none"}
        self.table = nn.Embedding(feature_map.vocab_size, dim, padding_idx=0, sparse=sparse)
        _init(self.table.weight, init_std, padding_idx=0)
        self.own = nn.ModuleDict()       # owner name → own table (size + 1 rows, last = padding)
        self.project = nn.ModuleDict()   # owner name → projection to dim
        dims = {s.name: s.embedding_dim for s in feature_map.fields}
        for s in feature_map.select(fields):
            owner = s.owner
            if owner is None or owner in self.own:
                continue
            pre = feature_map.pretrained.get(owner)
            own_dim = pre.dim if pre is not None else dims.get(owner)
            if own_dim is None or (own_dim == dim and pre is None) or dim == 1:
                continue
            table = nn.Embedding(s.size + 1, own_dim, padding_idx=s.size, sparse=sparse)
            _init(table.weight, init_std, padding_idx=s.size)
            if pre is not None:
                if pre.vectors is not None:
                    with torch.no_grad():
                        rows = torch.from_numpy(pre.found).nonzero().squeeze(1)
                        table.weight[rows] = torch.from_numpy(pre.vectors[pre.found])
                table.weight.requires_grad_(not pre.freeze)
            self.own[owner] = table
            if own_dim != dim:
                self.project[owner] = nn.Linear(own_dim, dim, bias=False)
        self._own_of = {s.name: s.owner for s in slots if s.owner in self.own}
        shared_cat = [s for s in slots if s.type == "categorical" and s.name not in self._own_of]
        shared_seq = [s for s in slots if s.type == "sequence" and s.name not in self._own_of]
        numeric = [s for s in slots if s.type == "numeric"]
        own = [s for s in slots if s.name in self._own_of]
        self.register_buffer("cat_index", _index([s.index for s in shared_cat]), persistent=False)
        # every categorical column, in order: use batch.cat as it is (a column gather of the ids
        # takes as long as the lookup itself; docs/performance.md)
        self.all_categorical = [s.index for s in shared_cat] == list(range(len(feature_map.of_type("categorical"))))
        self.register_buffer("seq_index", _index([s.index for s in shared_seq]), persistent=False)
        self.register_buffer("num_index", _index([s.index for s in numeric]), persistent=False)
        self.numeric_weight = nn.Parameter(torch.empty(len(numeric), dim)) if numeric else None
        if numeric:
            _init(self.numeric_weight, init_std)
        self.seq_sum = [s.pooling == "sum" for s in shared_seq]
        self._own_slots = own
        order = shared_cat + own + numeric + shared_seq
        position = {s.name: i for i, s in enumerate(order)}
        perm = [position[s.name] for s in slots]
        self.register_buffer("order", _index(perm), persistent=False)
        self._identity = perm == list(range(len(perm)))

    @property
    def names(self) -> List[str]:
        """Field names in the order of E's second axis."""
        return [s.name for s in self.slots]

    @property
    def shared_table_only(self) -> bool:
        """Whether every field is a categorical (rows of the shared ``table``, columns ``cat_index``
        of ``batch.cat``; all of them in order when ``all_categorical``) or a numeric one
        (``numeric_weight``, columns ``num_index`` of ``batch.num``): no tables of their own and no
        sequences. Prediction scorers that fold these tables (``FrozenFM``, ``FoldedMLP``) need it."""
        return not self._own_slots and not len(self.seq_index)

    @property
    def num_fields(self) -> int:
        return len(self.slots)

    def forward(self, batch: Batch) -> torch.Tensor:
        """E [B, F, D]."""
        parts = []
        if len(self.cat_index):
            ids = batch.cat if self.all_categorical else batch.cat.index_select(1, self.cat_index)
            parts.append(lookup(self.table, ids))
        for s in self._own_slots:
            ids = batch.cat[:, s.index] if s.type == "categorical" else batch.seq[:, s.index]
            rows = self._own_rows(s, ids)
            parts.append(rows.unsqueeze(1) if s.type == "categorical" else self._pool(rows, ids > 0, s.pooling == "sum").unsqueeze(1))
        if self.numeric_weight is not None:
            parts.append(batch.num.index_select(1, self.num_index).unsqueeze(-1) * self.numeric_weight)
        if len(self.seq_index):
            ids = batch.seq.index_select(1, self.seq_index)                    # [B, S, L]
            rows = lookup(self.table, ids)                                    # [B, S, L, D]
            mask = ids > 0
            pooled = rows.sum(2)
            if not all(self.seq_sum):
                counts = mask.sum(2, keepdim=True).clamp(min=1).to(rows.dtype)
                mean = pooled / counts
                use_sum = torch.tensor(self.seq_sum, device=rows.device).view(1, -1, 1)
                pooled = torch.where(use_sum, pooled, mean)
            parts.append(pooled)
        e = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return e if self._identity else e.index_select(1, self.order)

    def slot(self, name: str) -> FieldSlot:
        """The slot of field ``name``, pooled into E or not (its ``index`` is its column in the batch)."""
        return self.unpooled.get(name) or next(x for x in self.slots if x.name == name)

    def sequence(self, batch: Batch, name: str) -> tuple:
        """Rows [B, L, D] and mask [B, L] of a sequence field (for pooling ``none`` fields)."""
        s = self.slot(name)
        ids = batch.seq[:, s.index]
        rows = self._own_rows(s, ids) if s.owner in self.own else lookup(self.table, ids)
        return rows, ids > 0

    def _own_rows(self, s: FieldSlot, ids: torch.Tensor) -> torch.Tensor:
        local = torch.where(ids > 0, ids - s.offset, torch.full_like(ids, s.size))
        rows = lookup(self.own[s.owner], local)
        return self.project[s.owner](rows) if s.owner in self.project else rows

    @staticmethod
    def _pool(rows: torch.Tensor, mask: torch.Tensor, use_sum: bool) -> torch.Tensor:
        pooled = (rows * mask.unsqueeze(-1)).sum(-2)
        return pooled if use_sum else pooled / mask.sum(-1, keepdim=True).clamp(min=1)


def _index(values: List[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def _init(weight: torch.Tensor, std: float, padding_idx: Optional[int] = None) -> None:
    """Normal(0, std) (zeros when std is 0), with the padding row zero."""
    with torch.no_grad():
        if std > 0:
            nn.init.normal_(weight, 0.0, std)
        else:
            weight.zero_()
        if padding_idx is not None:
            weight[padding_idx].zero_()
