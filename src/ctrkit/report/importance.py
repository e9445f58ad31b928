"""Field-pair importance of attention models, averaged over a split: an F × F matrix per model."""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from ..data.loader import BatchLoader
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
        out = model.explain(batch.to(device))
        if not out:
            return None
        names = out["fields"]
        f = len(names)
        if "pair_weights" in out:
            w = out["pair_weights"].sum(0)
            m = torch.zeros(f, f, dtype=w.dtype, device=w.device)
            i, j = zip(*[(names.index(a), names.index(b)) for a, b in out["pairs"]])
            m[list(i), list(j)] = w
            m = m + m.T
            what = "AFM attention a_ij (mean over rows)"
        elif "attention" in out:
            m = torch.stack([a.mean(1) for a in out["attention"]]).mean(0).sum(0)
            what = "AutoInt attention (mean over layers, heads and rows; row = query field)"
        else:
            m = out["edges"].sum(0)
            what = "FiGNN edge weights A_ij (mean over rows)"
        total = m if total is None else total + m
        rows += len(batch)
    return (total / rows).cpu().numpy(), names, what
