"""Scoring encoded rows with a model in PyTorch, and metrics on labelled rows."""
from __future__ import annotations

import contextlib
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from ..data.loader import BatchLoader
from ..io.store import EncodedArrays
from ..models.base import CTRModel
from ..nn.embedding import FieldEmbedding
from .allocator import keep_freed_memory
from .metrics import binary_metrics, group_auc, regression_metrics

INFERENCE_BLOCK_BYTES = 4 * 2**20


@torch.inference_mode()
def predict(model: CTRModel, data: EncodedArrays, batch_size: int = 16384, bf16: bool = False,
            scorer: Optional[nn.Module] = None) -> np.ndarray:
    """Probabilities (binary) or predictions (regression) of ``model`` for every row.

    Args:
        model: a trained model, on any device.
        data: encoded rows (``Processor.transform``).
        batch_size: rows per forward pass; on CPU at most ``cpu_inference_rows(scorer)``.
        bf16: bfloat16 autocast for the dense layers, as in training with ``train.bf16``.
        scorer: the module that computes the logits; default ``model.scorer(len(data))``. A
            scorer in training mode is switched to eval mode for the call and back; one in eval
            mode (a loaded run) is left untouched, so it can be scored from many threads at once.

    Returns:
        float64 [N].
    """
    keep_freed_memory()
    scorer = model.scorer(len(data)) if scorer is None else scorer
    was_training = scorer.training   # switched only when needed: eval() walks every submodule
    if was_training:
        scorer.eval()
    device = model.device
    if device.type == "cpu":
        batch_size = min(batch_size, cpu_inference_rows(scorer))
    # no autocast context and no concatenation unless needed (docs/performance.md: LR per call)
    with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        parts = [scorer(b.to(device) if device.type != "cpu" else b).float()
                 for b in BatchLoader(data, batch_size, shuffle="none")]
    logits = (parts[0] if len(parts) == 1 else torch.cat(parts)).double().cpu()
    if was_training:
        scorer.train()
    return (torch.sigmoid(logits) if model.task == "binary" else logits).numpy()


def cpu_inference_rows(model: nn.Module) -> int:
    """Rows per prediction batch on CPU: those whose field embeddings E fill about
    ``INFERENCE_BLOCK_BYTES`` (larger batches fall out of cache and are faulted in afresh each batch;
    docs/performance.md). A module without field embeddings (``nn.FrozenFM``, ``nn.FoldedMLP``) gets
    as many rows as the caller allows.

    Args:
        model: the module that will score the rows.

    Returns:
        rows per batch, at least 256.
    """
    row_bytes = sum(m.num_fields * m.dim * 4 for m in model.modules() if isinstance(m, FieldEmbedding))
    return max(256, INFERENCE_BLOCK_BYTES // max(row_bytes, 1))


def evaluate(model: CTRModel, data: EncodedArrays, batch_size: int = 16384, group_field: str = "",
             bf16: bool = False) -> Dict[str, float]:
    """Metrics of ``model`` on labelled ``data``.

    Args:
        model: a model in eval mode.
        data: encoded rows with labels.
        batch_size, bf16: as in ``predict``.
        group_field: a categorical field (such as the user): adds the impression-weighted grouped
            AUC ``gauc``.

    Returns:
        binary: auc, logloss, accuracy, precision, recall, f1, ece, ...; regression: mse, rmse, mae.
    """
    return metrics_of(model, data, predict(model, data, batch_size, bf16), group_field)


def metrics_of(model: CTRModel, data: EncodedArrays, p: np.ndarray, group_field: str = "") -> Dict[str, float]:
    """Metrics of the predictions ``p`` of ``model`` for labelled ``data`` (as ``evaluate``)."""
    if data.label is None:
        raise ValueError("evaluation needs labelled data")
    if model.task == "regression":
        return regression_metrics(data.label, p)
    metrics = binary_metrics(data.label, p)
    if group_field:
        slots = {s.name: s for s in model.feature_map.of_type("categorical")}
        if group_field not in slots:
            raise ValueError(f"group_field {group_field!r} is not a categorical field; fields: {', '.join(slots)}")
        gauc = group_auc(data.label, p, np.asarray(data.cat[:, slots[group_field].index]))
        metrics["gauc"] = float("nan") if gauc is None else gauc
    return metrics
