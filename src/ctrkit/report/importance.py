"""What a model weighs, averaged over a split: field-pair importance (an F × F matrix) of attention
models, per-field weights of models that re-weight fields (FiBiNET's SENET), and the weights DIN
gives the items of a behaviour sequence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ..data.loader import BatchLoader
from ..inference.explain import pair_weights
from ..io.store import EncodedArrays
from ..models.base import CTRModel


@torch.inference_mode()
def pair_importance(model: CTRModel, data: EncodedArrays, batch_size: int = 4096
                    ) -> Optional[Tuple[np.ndarray, List[str], str]]:
    """(matrix [F, F], field names, what it shows), or None for models that attend to nothing.

    AFM: a_ij (symmetric); AutoInt(+): attention averaged over layers and heads (row = query
    field); FiGNN: edge weights A_ij. Rows of the split are weighted equally."""
    model.eval()
    device = model.device
    total, names, what, rows = None, None, "", 0
    for batch in BatchLoader(data, batch_size, shuffle="none"):
        out = pair_weights(model, batch.to(device))
        if out is None:
            return None
        weights, names, what = out
        total = weights.sum(0) if total is None else total + weights.sum(0)
        rows += len(batch)
    return (total / rows).cpu().numpy(), names, f"{what} (mean over rows)"


@torch.inference_mode()
def field_weights(model: CTRModel, data: EncodedArrays, batch_size: int = 4096
                  ) -> Optional[Tuple[np.ndarray, List[str], str]]:
    """(weights [F], field names, what they are), or None for models without per-field weights.

    FiBiNET: SENET's a_i (1 = the field's embedding unchanged, 0 = dropped), averaged over rows."""
    model.eval()
    total, names, rows = None, None, 0
    for batch in BatchLoader(data, batch_size, shuffle="none"):
        out = model.explain(batch.to(model.device))
        if not out or "field_weights" not in out:
            return None
        names = out["fields"]
        total = out["field_weights"].sum(0) if total is None else total + out["field_weights"].sum(0)
        rows += len(batch)
    return (total / rows).float().cpu().numpy(), names, "SENET field weights a_i (mean over rows)"


@dataclass
class HistoryWeights:
    """DIN's weights a(e_j, v_A) over one behaviour sequence, means over a split's real items:
    ``by_position`` [L] (NaN where no row has an item), on items equal to the row's target
    (``on_target``, NaN if none is) and on the other items (``on_others``)."""

    by_position: np.ndarray
    on_target: float
    on_others: float


@torch.inference_mode()
def history_weights(model: CTRModel, data: EncodedArrays, batch_size: int = 4096
                    ) -> Optional[Dict[str, HistoryWeights]]:
    """Sequence field → its ``HistoryWeights``, or None for models without sequence weights."""
    model.eval()
    sums: Dict[str, List[torch.Tensor]] = {}   # per field: [Σ by position, items by position, Σ target, n target]
    for batch in BatchLoader(data, batch_size, shuffle="none"):
        out = model.explain(batch.to(model.device))
        if not out or "sequence_weights" not in out:
            return None
        for field, weights in out["sequence_weights"].items():
            weights = weights.double()
            real, match = out["sequence_masks"][field], out["target_matches"][field]
            parts = [(weights * real).sum(0), real.sum(0).double(), weights[match].sum(), match.sum().double()]
            sums[field] = parts if field not in sums else [a + b for a, b in zip(sums[field], parts)]
    result = {}
    for field, (by_position, items, on_target, targets) in sums.items():
        others = items.sum() - targets
        result[field] = HistoryWeights(
            (by_position / items).cpu().numpy(),   # 0/0: NaN at positions no row reaches
            float(on_target / targets) if targets else float("nan"),
            float((by_position.sum() - on_target) / others) if others else float("nan"))
    return result
