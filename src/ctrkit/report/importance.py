"""Field-pair importance of attention models, averaged over a split: an F × F matrix per model."""
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
