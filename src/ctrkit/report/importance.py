"""What a model weighs, averaged over a split: field-pair importance (an F × F matrix) of attention
models, and per-field weights of models that re-weight fields (FiBiNET's SENET)."""
from __future__ import annotations

from typing import List, Optional, Tuple

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
