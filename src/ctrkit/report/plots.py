"""Plots of a run with matplotlib: learning curves, ROC, reliability, field-pair importance."""
from __future__ import annotations

import csv
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_history(path: str) -> List[Dict[str, float]]:
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def learning_curves(history: List[Dict[str, float]], path: str) -> None:
    """Loss and AUC per evaluation, train and valid."""
    x = [r["epoch"] for r in history]
    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(x, [r["train_loss"] for r in history], "o-", label="train")
    if "valid_logloss" in history[0]:
        ax_loss.plot(x, [r["valid_logloss"] for r in history], "o-", label="valid")
    ax_loss.set(xlabel="epoch", ylabel="logloss", title="Loss")
    if "train_auc" in history[0]:
        ax_auc.plot(x, [r["train_auc"] for r in history], "o-", label="train")
    if "valid_auc" in history[0]:
        ax_auc.plot(x, [r["valid_auc"] for r in history], "o-", label="valid")
    ax_auc.set(xlabel="epoch", ylabel="AUC", title="AUC")
    for ax in (ax_loss, ax_auc):
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple:
    """False and true positive rates at every distinct threshold (from 0,0 to 1,1)."""
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    distinct = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    return np.r_[0, fps / max(fps[-1], 1)], np.r_[0, tps / max(tps[-1], 1)]


def roc_plot(y: np.ndarray, p: np.ndarray, auc: float, path: str) -> None:
    fpr, tpr = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    _save(fig, path)


def reliability_plot(y: np.ndarray, p: np.ndarray, path: str, bins: int = 10) -> None:
    """Observed click rate against mean predicted probability per equal-width bin."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(which, minlength=bins)
    used = n > 0
    mean_p = np.bincount(which, weights=p, minlength=bins)[used] / n[used]
    rate = np.bincount(which, weights=y, minlength=bins)[used] / n[used]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect")
    ax.plot(mean_p, rate, "o-", label="model")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration (test)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    _save(fig, path)


UNIFORM_SPREAD = 0.05   # weights within 5% of their mean read as uniform


def uniform_note(matrix: np.ndarray) -> Optional[str]:
    """A note when the weights off the diagonal are all about equal (attention that singles out no
    field pair), else None."""
    off = matrix[~np.eye(len(matrix), dtype=bool)] if len(matrix) > 1 else matrix.ravel()
    mean = float(np.mean(off)) if off.size else 0.0
    if mean <= 0 or (float(off.max()) - float(off.min())) > UNIFORM_SPREAD * mean:
        return None
    return (f"uniform: every weight is within {UNIFORM_SPREAD:.0%} of {mean:.4g} ({off.min():.4g} to {off.max():.4g}), "
            "so the model singles out no field pair; the colours span 0 to twice the mean")


def pair_heatmap(matrix: np.ndarray, names: Sequence[str], title: str, path: str) -> None:
    """A field × field importance matrix with field names on both axes; a uniform one
    (``uniform_note``) is drawn on a scale from 0 to twice its mean, not stretched into contrast."""
    size = max(5.0, 0.35 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    note = uniform_note(matrix)
    scale = {"vmin": 0.0, "vmax": 2 * float(np.mean(matrix))} if note else {}
    image = ax.imshow(matrix, cmap="viridis", **scale)
    if note:
        title = f"{title}\n(uniform: no pair stands out)"
    ax.set_xticks(range(len(names)), labels=names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    _save(fig, path)


def field_bars(weights: np.ndarray, names: Sequence[str], title: str, path: str) -> None:
    """One bar per field, largest weight on top."""
    order = np.argsort(weights)
    fig, ax = plt.subplots(figsize=(6, max(3.0, 0.25 * len(names) + 1)))
    ax.barh(range(len(names)), weights[order], color="#3b6ea5")
    ax.set_yticks(range(len(names)), labels=[names[i] for i in order], fontsize=8)
    ax.set_title(title)
    _save(fig, path)


def position_bars(by_position: np.ndarray, title: str, path: str) -> None:
    """One bar per sequence position (1 = the first item as stored)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(np.arange(1, len(by_position) + 1), np.nan_to_num(by_position), color="#3b6ea5")
    ax.set_xlabel("position in the sequence")
    ax.set_ylabel("mean weight")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def _save(fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["field_bars", "learning_curves", "pair_heatmap", "position_bars", "read_history", "reliability_plot",
           "roc_curve", "roc_plot", "uniform_note"]
