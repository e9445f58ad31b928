"""Classification metrics, exact and vectorised (agree with scikit-learn to 1e-9)."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve, ties counted half (Mann-Whitney U with average ranks)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    n_pos = float(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    # average rank (1-based) of each tie group
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_p)) + 1]
    ends = np.r_[starts[1:], len(p)]
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(p))
    ranks[order] = np.repeat(group_rank, ends - starts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 − eps] (float64 eps)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    eps = np.finfo(np.float64).eps
    p = np.clip(np.asarray(p, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5, bins: int = 10) -> Dict[str, float]:
    """AUC, logloss, accuracy, precision, recall and F1 at ``threshold``, and calibration:
    mean predicted vs observed rate and the expected calibration error over ``bins`` equal-width bins."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "auc": roc_auc(y, p),
        "logloss": log_loss(y, p),
        "accuracy": float(np.mean(pred == (y == 1))),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "mean_prediction": float(p.mean()),
        "observed_rate": float(y.mean()),
        "ece": expected_calibration_error(y, p, bins),
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ_b (n_b / n) · |mean(p in b) − mean(y in b)| over equal-width probability bins."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y, minlength=bins)
    used = n > 0
    return float(np.sum(np.abs(sum_p[used] - sum_y[used])) / len(p))


def regression_metrics(y: np.ndarray, p: np.ndarray) -> Dict[str, float]:
    err = np.asarray(p, np.float64).ravel() - np.asarray(y, np.float64).ravel()
    return {"mse": float(np.mean(err ** 2)), "rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}


def group_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> Optional[float]:
    """Impression-weighted mean of per-group AUC over groups that have both classes."""
    order = np.argsort(groups, kind="mergesort")
    g, y, p = np.asarray(groups)[order], np.asarray(y)[order], np.asarray(p)[order]
    bounds = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1, len(g)]
    total, weight = 0.0, 0
    for s, e in zip(bounds[:-1], bounds[1:]):
        ys = y[s:e]
        if 0 < ys.sum() < len(ys):
            total += roc_auc(ys, p[s:e]) * len(ys)
            weight += len(ys)
    return total / weight if weight else None
