"""FoldedMLP: an MLP over flattened field embeddings, for prediction, with its first layer folded
into a table of per-id products; ``LogitSum`` adds such prediction terms into logits."""
from __future__ import annotations

import copy
from typing import List, Optional, Sequence

import torch
from torch import nn

from ..data.batch import Batch
from ..features.feature_map import FieldSlot
from .embedding import FieldEmbedding
from .mlp import MLP

FOLD_BYTES = 256 * 2**20   # the default budget of a folded table; 0 turns folding off
LOOKUPS_PER_ID = 32


class FoldedMLP(nn.Module):
    """``mlp(flatten(Z))`` → [B, out] for prediction only, where Z [B, F, W] lays each field's
    vectors from ``embeddings`` side by side (FNN's z_f = (w_f, e_f), DeepFM's e_f).

    The first Linear layer is a sum over fields: W·flatten(Z) + b = b + Σ_f W_f z_f, with W_f the
    block of W's columns that field f's vector meets. A categorical field's z_f is one of its rows
    of the tables, so W_f z_f is a row of T_f = Z_f W_fᵀ [ids of f, H], built here once: a batch
    then sums its rows of T with one ``embedding_bag`` instead of gathering [B, F, W] and
    multiplying [B, F·W] × [F·W, H]. The fields with the fewest ids are folded first, as long as T
    stays within ``budget`` bytes; the others keep the gather and product, over their columns of
    W only. Numeric fields (z_f = x_f·v_f) add x·U with U_f = W_f v_f. Batch norms (eval mode:
    running statistics) are folded into the Linear layer before them; the other layers run as
    copies of the MLP's. Equal to the MLP in eval mode up to float rounding; later changes of the
    weights are not seen: build a new one.

    Args:
        embeddings: the field embeddings whose vectors, side by side per field, the MLP reads.
        mlp: the MLP (its first layer a Linear over the flattened vectors).
        budget: the folded table's bytes at most (default ``FOLD_BYTES``).

    Shapes:
        Batch of B rows → [B, MLP output width].
    """

    def __init__(self, embeddings: Sequence[FieldEmbedding], mlp: MLP, budget: Optional[int] = None) -> None:
        super().__init__()
        if not self.supports(embeddings, mlp):
            raise ValueError("FoldedMLP needs embeddings over the same shared-table categorical and numeric fields "
                             "and an MLP that starts with a Linear layer over their flattened vectors")
        budget = FOLD_BYTES if budget is None else budget
        layers = _fold_batch_norms(copy.deepcopy(list(mlp.net)))
        first: nn.Linear = layers[0]
        slots, hidden = embeddings[0].slots, first.out_features
        folded = self.plan(slots, hidden, budget)
        if not folded:
            raise ValueError(f"no categorical field fits a folded table of {budget} bytes")
        width = sum(e.dim for e in embeddings)
        with torch.no_grad():
            w = first.weight.detach().float().view(hidden, len(slots), width)   # W_f = w[:, f]

            def rows(s: FieldSlot) -> torch.Tensor:      # Z_f [ids of f, W]
                block = slice(s.offset, s.offset + s.size)
                return torch.cat([e.table.weight[block].float() for e in embeddings], 1)

            hot = sorted(folded)
            cold = [f for f, s in enumerate(slots) if s.type != "numeric" and f not in folded]
            numeric = [f for f, s in enumerate(slots) if s.type == "numeric"]
            self._register_ids("hot", [slots[f] for f in hot])
            self.register_buffer("table", torch.cat([rows(slots[f]) @ w[:, f].T for f in hot]))
            self._register_ids("cold", [slots[f] for f in cold])
            self.register_buffer("cold_table", torch.cat([rows(slots[f]) for f in cold]) if cold else None)
            self.register_buffer("cold_weight", w[:, cold].reshape(hidden, -1).T.contiguous() if cold else None)
            vectors = [torch.cat([e.numeric_weight[k].float() for e in embeddings]) for k in range(len(numeric))]
            self.register_buffer("numeric", torch.stack([w[:, f] @ v for f, v in zip(numeric, vectors)])
                                 if numeric else None)
            self.register_buffer("num_index", embeddings[0].num_index.clone())
            self.register_buffer("bias", first.bias.detach().float().clone())
        self.rest = nn.Sequential(*layers[1:])
        self.to(embeddings[0].table.weight.device)
        self.eval()   # for prediction only

    def _register_ids(self, name: str, slots: List[FieldSlot]) -> None:
        """Buffers ``{name}_cols`` (the fields' columns of ``cat``) and ``{name}_shift`` (what moves
        each field's ids from its block of the fused table to its block of the table here)."""
        starts = torch.tensor([0] + [s.size for s in slots]).cumsum(0)[:-1]
        offsets = torch.tensor([s.offset for s in slots], dtype=torch.long)
        self.register_buffer(f"{name}_cols", torch.tensor([s.index for s in slots], dtype=torch.long))
        self.register_buffer(f"{name}_shift", (starts - offsets).to(torch.int32))

    @staticmethod
    def plan(slots: Sequence[FieldSlot], hidden: int, budget: Optional[int] = None) -> List[int]:
        """Positions of the fields to fold: categorical ones, fewest ids first, while the table
        of ``hidden`` float32 columns stays within ``budget`` bytes (None: ``FOLD_BYTES``)."""
        budget = FOLD_BYTES if budget is None else budget
        folded, rows = [], 0
        for f, s in sorted(((f, s) for f, s in enumerate(slots) if s.type != "numeric"), key=lambda fs: fs[1].size):
            if (rows + s.size) * hidden * 4 > budget:
                break
            folded.append(f)
            rows += s.size
        return folded

    @staticmethod
    def supports(embeddings: Sequence[FieldEmbedding], mlp: MLP) -> bool:
        """Whether the embeddings hold the same shared-table categorical and numeric fields and the
        MLP's first layer is a Linear over all their vectors."""
        first = mlp.net[0]
        plain = all(e.shared_table_only and e.names == embeddings[0].names for e in embeddings)
        return (plain and isinstance(first, nn.Linear)
                and first.in_features == embeddings[0].num_fields * sum(e.dim for e in embeddings))

    @classmethod
    def pays(cls, embeddings: Sequence[FieldEmbedding], mlp: MLP, rows: Optional[int] = None,
             budget: Optional[int] = None) -> bool:
        """Whether FoldedMLP ``supports`` the modules, folds a field within ``budget`` and, for
        ``rows`` rows (None: any number), looks up at least ``LOOKUPS_PER_ID`` folded values per id
        of its table (the measured break-even, docs/performance.md)."""
        if not cls.supports(embeddings, mlp):
            return False
        slots = embeddings[0].slots
        folded = cls.plan(slots, mlp.net[0].out_features, budget)
        ids = sum(slots[f].size for f in folded)
        return bool(folded) and (rows is None or rows * len(folded) >= LOOKUPS_PER_ID * ids)

    def forward(self, batch: Batch) -> torch.Tensor:
        with torch.autocast(batch.cat.device.type, enabled=False):
            ids = batch.cat
            first = nn.functional.embedding_bag(ids.index_select(1, self.hot_cols) + self.hot_shift, self.table,
                                                mode="sum").add_(self.bias)                  # [B, H]
            if self.cold_table is not None:
                z = nn.functional.embedding(ids.index_select(1, self.cold_cols) + self.cold_shift, self.cold_table)
                first.addmm_(z.flatten(1), self.cold_weight)
            if self.numeric is not None:
                first.addmm_(batch.num.index_select(1, self.num_index), self.numeric)
        return self.rest(first)


def _fold_batch_norms(layers: List[nn.Module]) -> List[nn.Module]:
    """``layers`` with each BatchNorm1d that keeps running statistics and follows a Linear layer
    folded into that layer: W' = diag(s)·W, b' = s·(b − μ) + β with s = γ / √(σ² + ε)."""
    out: List[nn.Module] = []
    for layer in layers:
        before = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm1d) and layer.track_running_stats and isinstance(before, nn.Linear):
            with torch.no_grad():
                scale = (layer.running_var + layer.eps).rsqrt()
                shift = -layer.running_mean * scale
                if layer.affine:
                    scale, shift = scale * layer.weight, shift * layer.weight + layer.bias
                bias = before.bias if before.bias is not None else torch.zeros_like(scale)
                before.weight.mul_(scale.unsqueeze(1))
                before.bias = nn.Parameter(bias * scale + shift)
            continue
        out.append(layer)
    return out


class LogitSum(nn.Module):
    """Σ of ``terms`` (modules batch → [B] or [B, 1]) → logits [B]: a model's prediction scorer
    assembled from frozen parts."""

    def __init__(self, *terms: nn.Module) -> None:
        super().__init__()
        self.terms = nn.ModuleList(terms)
        self.eval()

    def forward(self, batch: Batch) -> torch.Tensor:
        logits: Optional[torch.Tensor] = None
        for term in self.terms:
            y = term(batch)
            y = y.squeeze(-1) if y.dim() == 2 else y
            logits = y if logits is None else logits + y
        return logits
