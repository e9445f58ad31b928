"""What an attention model attends to, row by row: a field × field weight matrix per row."""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from ..data.batch import Batch
from ..data.loader import BatchLoader
from ..io.store import EncodedArrays
from ..models.base import CTRModel

WHAT = {"afm": "AFM attention a_ij", "autoint": "AutoInt attention (mean over layers and heads; row = query field)",
        "fignn": "FiGNN edge weights A_ij"}


@torch.inference_mode()
def pair_weights(model: CTRModel, batch: Batch) -> Optional[Tuple[torch.Tensor, List[str], str]]:
    """(weights [B, F, F], field names, what they are), or None for a model without field-pair
    weights (FiBiNET's field weights and DIN's sequence weights are not pairs).

    AFM: a_ij, symmetric; AutoInt(+): attention averaged over layers and heads (row = query
    field); FiGNN: the edge weights A_ij of its graph; DCN-V2: the size of its cross weights per
    field pair (a ``matrix`` with its ``what``)."""
    out = model.explain(batch)
    if not out or not {"pair_weights", "attention", "edges", "matrix"} & set(out):
        return None
    names = out["fields"]
    f = len(names)
    if "pair_weights" in out:
        w = out["pair_weights"]                                            # [B, P]
        m = torch.zeros(w.shape[0], f, f, dtype=w.dtype, device=w.device)
        i, j = zip(*[(names.index(a), names.index(b)) for a, b in out["pairs"]])
        m[:, list(i), list(j)] = w
        return m + m.transpose(1, 2), names, WHAT["afm"]
    if "attention" in out:
        return torch.stack([a.mean(1) for a in out["attention"]]).mean(0), names, WHAT["autoint"]
    if "matrix" in out:
        return out["matrix"], names, out["what"]
    return out["edges"], names, WHAT["fignn"]


def row_top_pairs(model: CTRModel, data: EncodedArrays, k: int = 3, batch_size: int = 4096
                  ) -> Optional[List[List[dict]]]:
    """``top_pairs`` of every row of ``data``, or None for a model that attends to nothing."""
    model.eval()
    out: List[List[dict]] = []
    for batch in BatchLoader(data, batch_size, shuffle="none"):
        weights = pair_weights(model, batch.to(model.device))
        if weights is None:
            return None
        out += top_pairs(weights[0], weights[1], k)
    return out


def top_pairs(weights: torch.Tensor, names: List[str], k: int = 3) -> List[List[dict]]:
    """The ``k`` largest off-diagonal weights of each row's matrix, as {"fields": [a, b], "weight": w}
    (a symmetric matrix counts each pair once)."""
    b, f, _ = weights.shape
    symmetric = bool(torch.allclose(weights, weights.transpose(1, 2)))
    mask = torch.ones(f, f, dtype=torch.bool, device=weights.device).triu(1) if symmetric else \
        ~torch.eye(f, dtype=torch.bool, device=weights.device)
    rows, cols = mask.nonzero(as_tuple=True)
    flat = weights[:, rows, cols].float()
    values, index = flat.topk(min(k, flat.shape[1]), dim=1)
    return [[{"fields": [names[int(rows[i])], names[int(cols[i])]], "weight": float(v)}
             for v, i in zip(values[r], index[r])] for r in range(b)]
