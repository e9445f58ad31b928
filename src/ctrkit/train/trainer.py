"""The training loop: loss on logits, optimizers, evaluation, early stopping, LR on plateau,
checkpoints and resume, history and progress. The model never knows it is being trained."""
from __future__ import annotations

import contextlib
import copy
import csv
import os
import re
import time
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.loader import BatchLoader
from ..data.store import EncodedArrays
from ..models.base import CTRModel
from ..nn.embedding import FieldEmbedding
from .allocator import keep_freed_memory
from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from .device import model_device, resolve_device
from .metrics import binary_metrics, group_auc, regression_metrics, roc_auc
from .optim import build_optimizers

HIGHER_IS_BETTER = ("auc", "gauc", "accuracy", "precision", "recall", "f1")


@dataclass
class TrainConfig:
    """Training options (every one reachable from YAML configs and ``--set train.KEY=VALUE``)."""

    epochs: int = 10
    batch_size: int = 1024
    eval_batch_size: int = 16384            # on CPU at most cpu_inference_rows(model)
    lr: float = 1e-3
    optimizer: str = "adam"                 # adam | adamw | adagrad | sgd
    embedding_optimizer: str = "sparse_adam"  # for sparse tables (model option sparse: true): sparse_adam | adagrad | sgd
    embedding_lr: float = 0.0               # 0: same as lr
    weight_decay: float = 0.0
    clip_norm: float = 0.0                  # 0: no gradient clipping
    monitor: str = "auto"                   # auto (auc; mse for regression) | logloss | a sum such as auc-logloss
    patience: int = 2                       # evaluations without improvement before stopping
    min_delta: float = 0.0
    lr_factor: float = 1.0                  # multiply the learning rate by this on a plateau (1: never)
    lr_patience: int = 1
    eval_every_steps: int = 0               # 0: evaluate at each epoch end only
    checkpoint_every_steps: int = 0         # 0: checkpoint at each epoch end only
    shuffle: str = "rows"                   # rows | blocks | none
    seed: int = 0
    threads: int = 0                        # 0: the cores this process may use
    progress: bool = True
    tensorboard: bool = False
    group_field: str = ""                   # a categorical field (e.g. user): adds grouped AUC ('gauc')
    bf16: bool = False                      # bfloat16 autocast for the dense layers (training and prediction)
    device: str = "model"                   # model (where its parameters are: the CPU unless moved) | auto | cpu | cuda[:N]


def monitor_value(metrics: Dict[str, float], monitor: str) -> float:
    """The monitored score, larger is better: one metric ('auc'; 'logloss' is negated because lower
    is better) or a weighted sum taken as written, e.g. 'auc-logloss' or 'auc-0.5*logloss'."""
    text = monitor.replace(" ", "")
    terms = re.findall(r"([+-]?)(?:(\d+(?:\.\d*)?)\*)?([a-z_]+)", text)
    if not terms or "".join(f"{s}{c + '*' if c else ''}{n}" for s, c, n in terms) != text:
        raise ValueError(f"monitor {monitor!r}: expected a metric name or a weighted sum such as auc-0.5*logloss")
    for _, _, name in terms:
        if name not in metrics:
            raise ValueError(f"monitor {monitor!r}: unknown metric {name!r}; metrics: {', '.join(metrics)}")
    if len(terms) == 1 and not terms[0][1]:
        sign, _, name = terms[0]
        value = metrics[name] if name in HIGHER_IS_BETTER else -metrics[name]
        return -value if sign == "-" else value
    return sum((-1.0 if sign == "-" else 1.0) * float(coef or 1.0) * metrics[name] for sign, coef, name in terms)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Trainer:
    """Trains a ``CTRModel`` on ``EncodedArrays``.

    With ``out_dir``: writes ``history.csv`` after each evaluation, checkpoints into
    ``out_dir/checkpoint`` at each epoch end (and every ``checkpoint_every_steps``), and
    ``fit(..., resume=True)`` continues from the last checkpoint with the same result as a run
    that was never stopped.
    """

    def __init__(self, model: CTRModel, config: Optional[TrainConfig] = None, out_dir: Optional[str] = None,
                 **overrides: Any) -> None:
        self.model = model
        self.config = copy.deepcopy(config) if config is not None else TrainConfig()
        valid = {f.name for f in fields(TrainConfig)}
        for key, value in overrides.items():
            if key not in valid:
                raise TypeError(f"unknown training option {key!r}; valid: {', '.join(sorted(valid))}")
            setattr(self.config, key, value)
        torch.set_num_threads(self.config.threads or cores())
        keep_freed_memory()
        self.out_dir = out_dir
        self.history: List[Dict[str, float]] = []
        self.best_epoch = 0
        self.epoch = self.step = self.step_in_epoch = 0
        self._best_score = -np.inf
        self._best_state: Optional[Dict[str, torch.Tensor]] = None
        self._waited = self._lr_waited = 0
        self._stopped = False
        self._writer = None
        self._batches_per_epoch = 0
        self._device = resolve_device(self.config.device, model)
        self._device_type = self._device.type
        model.to(self._device)

    # ------------------------------------------------------------------ training
    def loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.model.task == "regression":
            return F.mse_loss(logits, label)
        return F.binary_cross_entropy_with_logits(logits, label)

    def fit(self, train: EncodedArrays, valid: Optional[EncodedArrays] = None, resume: bool = False
            ) -> List[Dict[str, float]]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.optimizers = build_optimizers(self.model, cfg.optimizer, cfg.lr, cfg.embedding_optimizer,
                                           cfg.embedding_lr, cfg.weight_decay)
        if resume:
            self._resume()
        loader = BatchLoader(train, cfg.batch_size, cfg.shuffle, cfg.seed)
        self._batches_per_epoch = len(loader)
        while self.epoch < cfg.epochs and not self._stopped:
            loader.set_epoch(self.epoch)
            self._train_epoch(loader, valid)
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        if self._writer is not None:
            self._writer.close()
        return self.history

    def _train_epoch(self, loader: BatchLoader, valid: Optional[EncodedArrays]) -> None:
        cfg = self.config
        self.model.train()
        skip, seen, loss_sum, train_time = self.step_in_epoch, 0, 0.0, 0.0
        logits_seen, labels_seen = [], []
        progress = _progress(len(loader) - skip, f"epoch {self.epoch + 1}/{cfg.epochs}", cfg.progress)
        tick = time.perf_counter()
        for i, batch in enumerate(loader):
            if i < skip:
                continue
            if self._device_type != "cpu":
                batch = batch.to(self._device, non_blocking=True)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            with torch.autocast(self._device_type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = self.model(batch).float()
            loss = self.loss(logits, batch.label)
            (loss + self.model.penalty()).backward()
            if cfg.clip_norm > 0:
                dense = [p for p in self.model.parameters() if p.grad is not None and not p.grad.is_sparse]
                torch.nn.utils.clip_grad_norm_(dense, cfg.clip_norm)
            for opt in self.optimizers:
                opt.step()
            self.step += 1
            self.step_in_epoch += 1
            seen += len(batch)
            loss_sum += loss.item() * len(batch)
            logits_seen.append(logits.detach())
            labels_seen.append(batch.label.detach())
            if progress is not None:
                progress.update(1)
                if self.step % 20 == 0:
                    progress.set_postfix(loss=f"{loss_sum / seen:.4f}", rate=f"{seen / (time.perf_counter() - tick):,.0f}/s")
            if cfg.eval_every_steps and self.step % cfg.eval_every_steps == 0 and i + 1 < len(loader):
                train_time += time.perf_counter() - tick
                self._record(valid, seen, loss_sum, train_time, logits_seen, labels_seen, epoch_end=False)
                tick = time.perf_counter()
                self.model.train()
                if self._stopped:
                    break
            if cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0:
                self.save_checkpoint()
        if progress is not None:
            progress.close()
        if self._stopped:
            return
        train_time += time.perf_counter() - tick
        self.epoch += 1
        self.step_in_epoch = 0
        self._record(valid, seen, loss_sum, train_time, logits_seen, labels_seen, epoch_end=True)
        self.save_checkpoint()

    def _record(self, valid, seen, loss_sum, train_time, logits_seen, labels_seen, epoch_end: bool) -> None:
        """One history row: train loss/AUC so far this epoch, valid metrics, early stopping, LR plateau."""
        epoch = self.epoch if epoch_end else self.epoch + self.step_in_epoch / max(self._batches_per_epoch, 1)
        row: Dict[str, float] = {"epoch": round(epoch, 4), "step": self.step, "train_loss": loss_sum / max(seen, 1)}
        if self.model.task == "binary" and logits_seen:
            row["train_auc"] = roc_auc(torch.cat(labels_seen).cpu().numpy(), torch.cat(logits_seen).float().cpu().numpy())
        row["lr"] = self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0
        row["seconds"] = train_time
        row["samples_per_second"] = seen / train_time if train_time > 0 else 0.0
        if valid is not None:
            metrics = self.evaluate(valid)
            row.update({f"valid_{k}": v for k, v in metrics.items()})
            monitor = self.config.monitor
            if monitor == "auto":
                monitor = "auc" if self.model.task == "binary" else "mse"
            self._track(monitor_value(metrics, monitor))
        self.history.append(row)
        self._write_history(row)

    def _track(self, score: float) -> None:
        cfg = self.config
        if score > self._best_score + cfg.min_delta:
            self._best_score, self._waited, self._lr_waited = score, 0, 0
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best_epoch = self.epoch if self.step_in_epoch == 0 else self.epoch + 1
            return
        self._waited += 1
        self._lr_waited += 1
        if cfg.lr_factor != 1.0 and self._lr_waited >= cfg.lr_patience:
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group["lr"] *= cfg.lr_factor
            self._lr_waited = 0
        if self._waited > cfg.patience:
            self._stopped = True

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> Dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
                "best_score": float(self._best_score), "best_epoch": self.best_epoch, "waited": self._waited,
                "lr_waited": self._lr_waited, "stopped": self._stopped, "history": self.history,
                "optimizers": [opt.state_dict() for opt in self.optimizers], "rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(self._device)} if self._device_type == "cuda" else {})}

    def save_checkpoint(self) -> None:
        if self.out_dir is None:
            return
        save_checkpoint(os.path.join(self.out_dir, "checkpoint"), self.model.state_dict(), self._state(),
                        self._best_state)

    def _resume(self) -> None:
        folder = find_checkpoint(os.path.join(self.out_dir or "", "checkpoint")) if self.out_dir else None
        if folder is None:
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {self.out_dir}/checkpoint")
        ckpt = load_checkpoint(folder)
        state = ckpt["state"]
        self.model.load_state_dict(ckpt["model"])
        self._best_state = ckpt["best"]
        for opt, opt_state in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(opt_state)
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        self._best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self._waited, self._lr_waited, self._stopped = state["waited"], state["lr_waited"], state["stopped"]
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"])
        if self._device_type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self._device)

    def _write_history(self, row: Dict[str, float]) -> None:
        if self.out_dir is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        keys = list(dict.fromkeys(k for r in self.history for k in r))
        path = os.path.join(self.out_dir, "history.csv")
        with open(path + ".tmp", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
        os.replace(path + ".tmp", path)
        if self.config.tensorboard:
            if self._writer is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as exc:
                    raise ImportError("tensorboard: true needs the tensorboard package (pip install tensorboard)") from exc
                self._writer = SummaryWriter(os.path.join(self.out_dir, "tensorboard"))
            for key, value in row.items():
                if key not in ("epoch", "step"):
                    self._writer.add_scalar(key, value, row["step"])

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (binary) or predictions (regression), float64 [N]."""
        return predict(self.model, data, self.config.eval_batch_size, self.config.bf16)

    def evaluate(self, data: EncodedArrays) -> Dict[str, float]:
        return evaluate(self.model, data, self.config.eval_batch_size, self.config.group_field, self.config.bf16)


@torch.inference_mode()
def predict(model: CTRModel, data: EncodedArrays, batch_size: int = 16384, bf16: bool = False,
            scorer: Optional[torch.nn.Module] = None) -> np.ndarray:
    """Probabilities (binary) or predictions (regression) of ``model`` for every row, float64 [N],
    in batches of ``batch_size`` rows (on CPU at most ``cpu_inference_rows`` of the scorer);
    ``bf16``: bfloat16 autocast for the dense layers, as in training with ``bf16``; ``scorer``: the
    module that computes the logits, by default ``model.scorer(len(data))``."""
    keep_freed_memory()
    scorer = model.scorer(len(data)) if scorer is None else scorer
    was_training = scorer.training   # switched only when needed: eval() walks every submodule
    if was_training:
        scorer.eval()
    device = model_device(model)
    if device.type == "cpu":
        batch_size = min(batch_size, cpu_inference_rows(scorer))
    # no autocast context and no concatenation unless needed: 8-17 of 147 µs per call for Adult's
    # 6,512 rows with LR (best of 5 × 3,000 calls)
    with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        parts = [scorer(b.to(device) if device.type != "cpu" else b).float()
                 for b in BatchLoader(data, batch_size, shuffle="none")]
    logits = (parts[0] if len(parts) == 1 else torch.cat(parts)).double().cpu()
    if was_training:
        scorer.train()
    return (torch.sigmoid(logits) if model.task == "binary" else logits).numpy()


INFERENCE_BLOCK_BYTES = 4 * 2**20


def cpu_inference_rows(model: torch.nn.Module) -> int:
    """Rows per prediction batch on CPU: those whose field embeddings E fill about
    ``INFERENCE_BLOCK_BYTES``. Larger batches allocate tensors that glibc maps fresh from the kernel
    (and faults in) every batch and that fall out of cache: at 16,384 rows of 39×16 embeddings FM
    predicted 0.43M rows/s and FNN 87k, at 1,600-2,048 rows 0.8-0.97M and 115-136k (2-core CPU).
    A module without field embeddings (``nn.FrozenFM``, ``nn.FoldedMLP``) gets as many rows as the
    caller allows (the folded FNN and DeepFM predicted 5-9% faster at 8,192-16,384 rows than at 2,048)."""
    row_bytes = sum(m.num_fields * m.dim * 4 for m in model.modules() if isinstance(m, FieldEmbedding))
    return max(256, INFERENCE_BLOCK_BYTES // max(row_bytes, 1))


def evaluate(model: CTRModel, data: EncodedArrays, batch_size: int = 16384, group_field: str = "",
             bf16: bool = False) -> Dict[str, float]:
    """Metrics of ``model`` on labelled ``data``; with ``group_field`` (a categorical field such
    as the user) also the impression-weighted grouped AUC 'gauc'."""
    if data.label is None:
        raise ValueError("evaluation needs labelled data")
    p = predict(model, data, batch_size, bf16)
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


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, leave=False, disable=None, dynamic_ncols=True)
