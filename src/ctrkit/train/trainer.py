"""The training loop: loss on logits, optimizer steps, evaluations and the callbacks around them.
The model never knows it is being trained; what happens around the loop lives in ``callbacks``."""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..data.loader import BatchLoader
from ..inference.allocator import keep_freed_memory
from ..inference.metrics import roc_auc
from ..inference.scoring import metrics_of, predict
from ..io.store import EncodedArrays
from ..models.base import CTRModel
from .callbacks import Callback, Checkpoint, EarlyStopping, History, LRPlateau, ProgressBar, TensorBoard
from .checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from . import distributed
from ..io.threads import own_cores
from .device import FreeCores, resolve_bf16, resolve_device
from .optim import build_optimizers
from .options import TrainConfig


THREAD_CHECK_S = 5.0   # how often training sizes its threads to the cores other processes leave


@dataclass
class EpochTotals:
    """Running totals of the current epoch, which its history rows report: rows seen, the summed
    loss (float64, on the device: no per-step ``.item()``), training seconds, and the logits and
    labels seen (for the train AUC). Saved in checkpoints, so a resumed epoch reports the same.

    The logits and labels go into one buffer each (made for ``capacity`` rows; doubled when full),
    not into a tensor per step: small tensors kept from every step split glibc's heap so that
    the step's freed activations could not be reused, and a DCN epoch on 200k synthetic rows grew the
    process by about 13 MB a step (benchmarks/RESULTS.md, "The memory of the slower models")."""

    seen: int = 0
    loss_sum: Optional[torch.Tensor] = None
    seconds: float = 0.0
    logits: Optional[torch.Tensor] = None    # the first ``seen`` rows are filled
    labels: Optional[torch.Tensor] = None
    capacity: int = 0                         # rows the buffers are first made for (the epoch's)

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        n = len(labels)
        weighted = loss.double() * n
        self.loss_sum = weighted if self.loss_sum is None else self.loss_sum.add_(weighted)
        held = 0 if self.logits is None else len(self.logits)
        if self.seen + n > held:
            rows = max(self.seen + n, self.capacity, 2 * held)
            grown_logits, grown_labels = logits.new_empty(rows), labels.new_empty(rows)
            if held:
                grown_logits[:self.seen], grown_labels[:self.seen] = self.filled()
            self.logits, self.labels = grown_logits, grown_labels
        self.logits[self.seen:self.seen + n] = logits
        self.labels[self.seen:self.seen + n] = labels
        self.seen += n

    def mean_loss(self) -> float:
        return float(self.loss_sum) / self.seen if self.seen else 0.0

    def filled(self) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The logits and labels seen so far (views), or Nones before the first step."""
        if self.logits is None:
            return None, None
        return self.logits[:self.seen], self.labels[:self.seen]

    def auc(self) -> float:
        logits, labels = self.filled()
        return roc_auc(labels.cpu().numpy(), logits.float().cpu().numpy())

    def state_dict(self) -> Dict[str, Any]:
        logits, labels = self.filled()
        cpu = lambda t: None if t is None else t.cpu().clone()  # noqa: E731
        return {"seen": self.seen, "loss_sum": None if self.loss_sum is None else self.loss_sum.cpu(),
                "seconds": self.seconds, "logits": cpu(logits), "labels": cpu(labels)}

    @classmethod
    def merged(cls, states: List[Dict[str, Any]], device: torch.device) -> "EpochTotals":
        """The totals of several processes' parts of one epoch (``state_dict``s) as one."""
        parts = [cls.from_state(s, device) for s in states]
        sums = [p.loss_sum for p in parts if p.loss_sum is not None]
        filled = [p.filled() for p in parts if p.logits is not None]
        cat = lambda i: torch.cat([f[i] for f in filled]) if filled else None  # noqa: E731
        return cls(sum(p.seen for p in parts), torch.stack(sums).sum() if sums else None,
                   max(p.seconds for p in parts), cat(0), cat(1))

    @classmethod
    def from_state(cls, state: Dict[str, Any], device: torch.device) -> "EpochTotals":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        loss_sum = state["loss_sum"]
        return cls(state["seen"], None if loss_sum is None else loss_sum.to(device), state["seconds"],
                   move(state["logits"]), move(state["labels"]))


class Trainer:
    """Trains a ``CTRModel`` on ``EncodedArrays``.

    Args:
        model: the model; it is moved to ``config.device``.
        config: training options (``TrainConfig``); keyword ``overrides`` set single ones.
        out_dir: with it, ``history.csv`` is written after each evaluation and checkpoints go to
            ``out_dir/checkpoint`` at each epoch end (and every ``checkpoint_every_steps``), so that
            ``fit(..., resume=True)`` continues with the same weights, metrics and history as a
            run that was never stopped.
        callbacks: the user's own ``Callback``s, called after the built-in ones (``callbacks``).

    ``bf16`` is the precision that runs (``config.bf16`` resolved: None means bfloat16 where the
    device computes it natively and the model gains from it) and ``bf16_reason`` says why.

    In a process group (torchrun, ``distributed``) the model trains under DistributedDataParallel:
    ``config.batch_size`` is the global batch, each rank takes its part of every batch and weights
    its loss by that part, so the averaged gradient is the one of the whole batch; validation rows
    are scored in parts and gathered, so every rank computes the metrics (and the stop decision) of
    the whole split; only rank 0 writes history, checkpoints and progress.
    After ``fit``: ``history`` (one row per evaluation), ``best_epoch``, and the model holds the
    best weights seen (by ``config.monitor`` on the validation data).
    """

    def __init__(self, model: CTRModel, config: Optional[TrainConfig] = None, out_dir: Optional[str] = None,
                 callbacks: Sequence[Callback] = (), **overrides: Any) -> None:
        self.model = model
        self.config = copy.deepcopy(config) if config is not None else TrainConfig()
        valid = {f.name for f in fields(TrainConfig)}
        for key, value in overrides.items():
            if key not in valid:
                raise TypeError(f"unknown training option {key!r}; valid: {', '.join(sorted(valid))}")
            setattr(self.config, key, value)
        self.config.check()
        self.group = distributed.group()
        torch.set_num_threads(self.config.threads or own_cores())
        self._free_cores: Optional[FreeCores] = None
        keep_freed_memory()
        self.out_dir = out_dir
        self.epoch = self.step = self.step_in_epoch = 0
        self.batches_per_epoch = 0
        self.stop_training = False
        self.resumed_from_world: Optional[int] = None   # a resume of a checkpoint of another group size
        self.totals = EpochTotals()
        self.optimizers: List[torch.optim.Optimizer] = []
        self.callbacks: List[Callback] = self._built_in() + list(callbacks)
        self._device = resolve_device(self.config.device, model)
        if self.group.active and self._device.type == "cuda" and self._device.index is None:
            # one GPU per process (more processes than GPUs share them: gloo only, nccl refuses)
            self._device = torch.device("cuda", self.group.local_rank % torch.cuda.device_count())
        model.to(self._device)
        self._net: torch.nn.Module = model   # what training calls: the model, or DDP around it
        self.bf16, self.bf16_reason = resolve_bf16(self.config.bf16, model, self._device)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def precision(self) -> str:
        return "bfloat16" if self.bf16 else "float32"

    def _built_in(self) -> List[Callback]:
        cfg = self.config
        main = self.group.main
        out: List[Callback] = [History(self.out_dir if main else None),
                               EarlyStopping(cfg.monitor, cfg.patience, cfg.min_delta)]
        if cfg.lr_factor != 1.0:
            out.append(LRPlateau(cfg.lr_factor, cfg.lr_patience, cfg.monitor, cfg.min_delta))
        if self.out_dir is not None:
            out.append(Checkpoint(cfg.checkpoint_every_steps))   # every rank: its state goes in too
            if cfg.tensorboard and main:
                out.append(TensorBoard(self.out_dir))
        if cfg.progress and main:
            out.append(ProgressBar())
        return out

    def _callback(self, kind: type) -> Any:
        return next((c for c in self.callbacks if isinstance(c, kind)), None)

    @property
    def history(self) -> List[Dict[str, float]]:
        """One row per evaluation: epoch, step, train_loss, train_auc, lr, seconds,
        samples_per_second and the valid_* metrics."""
        return self._callback(History).rows

    @property
    def best_epoch(self) -> int:
        stopper = self._callback(EarlyStopping)
        return stopper.best_epoch if stopper is not None else 0

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    # ------------------------------------------------------------------ training
    def loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.model.task == "regression":
            return F.mse_loss(logits, label)
        return F.binary_cross_entropy_with_logits(logits, label)

    def fit(self, train: EncodedArrays, valid: Optional[EncodedArrays] = None, resume: bool = False
            ) -> List[Dict[str, float]]:
        """Train for ``config.epochs`` (or until early stopping); returns ``history``."""
        cfg = self.config
        g = self.group
        torch.manual_seed(cfg.seed + g.rank)   # rank 0 draws as one process would; others their own dropout
        self.optimizers = build_optimizers(self.model, cfg.optimizer, cfg.lr, cfg.embedding_optimizer,
                                           cfg.embedding_lr, cfg.weight_decay)
        if resume:
            self._resume()
        loader = BatchLoader(train, cfg.batch_size, cfg.shuffle, cfg.seed, rank=g.rank, world_size=g.world_size)
        self.batches_per_epoch = len(loader)
        self._epoch_rows = self.batches_per_epoch * -(-cfg.batch_size // g.world_size)   # at most
        self.totals.capacity = self._epoch_rows
        if g.active:
            distributed.check_sparse(self.model)
            self._net = torch.nn.parallel.DistributedDataParallel(
                self.model, find_unused_parameters=bool(cfg.distributed.get("find_unused_parameters")))
        if not cfg.threads and self._device.type == "cpu" and not g.active:
            self._free_cores = FreeCores()
            self._size_threads()
        self._call("on_fit_start")
        while self.epoch < cfg.epochs and not self.stop_training:
            loader.set_epoch(self.epoch, start=self.step_in_epoch)   # a resumed epoch skips its done batches
            self._train_epoch(loader, valid)
        self._net = self.model
        self._call("on_fit_end")
        return self.history

    def _size_threads(self) -> None:
        """With ``threads: 0`` on the CPU: as many threads as the cores other processes leave free."""
        self._threads_checked = time.perf_counter()
        torch.set_num_threads(self._free_cores.threads())

    def _train_epoch(self, loader: BatchLoader, valid: Optional[EncodedArrays]) -> None:
        cfg = self.config
        world = self.group.world_size
        self.model.train()
        self._call("on_epoch_start")
        tick = time.perf_counter()
        for batch in loader:
            if self._free_cores is not None and time.perf_counter() - self._threads_checked > THREAD_CHECK_S:
                self._size_threads()
            if self._device.type != "cpu":
                batch = batch.to(self._device, non_blocking=True)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            with torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self._net(batch).float()
            loss = self.loss(logits, batch.label)
            objective = loss + self.model.penalty()
            if world > 1:   # DDP averages over ranks: weight by this rank's share of the global batch
                objective = objective * (len(batch) * world / loader.step_rows)
            objective.backward()
            if cfg.clip_norm > 0:
                dense = [p for p in self.model.parameters() if p.grad is not None and not p.grad.is_sparse]
                torch.nn.utils.clip_grad_norm_(dense, cfg.clip_norm)
            for opt in self.optimizers:
                opt.step()
            self.step += 1
            self.step_in_epoch += 1
            loss = loss.detach()
            self.totals.add(loss, logits.detach(), batch.label.detach())
            if (cfg.eval_every_steps and self.step % cfg.eval_every_steps == 0
                    and self.step_in_epoch < self.batches_per_epoch):
                self.totals.seconds += time.perf_counter() - tick
                self._evaluation(valid, epoch_end=False)
                tick = time.perf_counter()
                self.model.train()
                if self.stop_training:
                    return
            self._call("on_step_end", batch, loss)
            if self.stop_training:
                return
        self.totals.seconds += time.perf_counter() - tick
        self.epoch += 1
        self.step_in_epoch = 0
        self._evaluation(valid, epoch_end=True)
        self.totals = EpochTotals(capacity=self._epoch_rows)
        self._call("on_epoch_end")

    def _evaluation(self, valid: Optional[EncodedArrays], epoch_end: bool) -> None:
        """One history row (train loss and AUC so far this epoch, valid metrics) to the callbacks."""
        epoch = self.epoch if epoch_end else self.epoch + self.step_in_epoch / max(self.batches_per_epoch, 1)
        t = self.totals
        if self.group.active:   # the whole group's rows, scored with rank 0's running statistics
            t = EpochTotals.merged(distributed.gather(t.state_dict()), self._device)
            distributed.sync_buffers(self.model)
        row: Dict[str, float] = {"epoch": round(epoch, 4), "step": self.step, "train_loss": t.mean_loss()}
        if self.model.task == "binary" and t.seen:
            row["train_auc"] = t.auc()
        row["lr"] = self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0
        row["seconds"] = t.seconds
        row["samples_per_second"] = t.seen / t.seconds if t.seconds > 0 else 0.0
        if valid is not None:
            row.update({f"valid_{k}": v for k, v in self.evaluate(valid).items()})
        self._call("on_evaluate", row)
        self.stop_training = distributed.broadcast(self.stop_training)   # rank 0 decides for all

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        """Everything a resumed ``fit`` needs besides the weights (tensors and plain values). In a
        group, ``totals`` and ``rng`` are lists with every rank's (a collective call)."""
        totals: Any = self.totals.state_dict()
        rng: Any = torch.get_rng_state()
        if self.group.active:
            totals, rng = zip(*distributed.gather((totals, rng)))
        return {"epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
                "stopped": self.stop_training, "totals": totals, "world_size": self.group.world_size,
                "callbacks": {c.key: c.state_dict() for c in self.callbacks},
                "optimizers": [opt.state_dict() for opt in self.optimizers], "rng": rng,
                **({"cuda_rng": torch.cuda.get_rng_state(self._device)} if self._device.type == "cuda" else {})}

    def save_checkpoint(self) -> None:
        """Write ``out_dir/checkpoint`` (weights, best weights, ``state_dict``) atomically; in a
        group every rank calls it and rank 0 writes."""
        if self.out_dir is None:
            return
        state = self.state_dict()
        if not self.group.main:
            return
        stopper = self._callback(EarlyStopping)
        save_checkpoint(os.path.join(self.out_dir, "checkpoint"), self.model.state_dict(), state,
                        stopper.best_state if stopper is not None else None)

    def _resume(self) -> None:
        folder = find_checkpoint(os.path.join(self.out_dir, "checkpoint")) if self.out_dir else None
        if folder is None:
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {self.out_dir}/checkpoint")
        ckpt = load_checkpoint(folder)
        state = ckpt["state"]
        if "callbacks" not in state:
            raise ValueError(f"{folder}: a checkpoint of an older ctrkit (no callback state); train again "
                             "without --resume")
        self.model.load_state_dict(ckpt["model"])
        for opt, opt_state in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(opt_state)
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        self.stop_training = state["stopped"]
        self._resume_per_rank(state)
        for callback in self.callbacks:
            if callback.key in state["callbacks"]:
                callback.load_state_dict(state["callbacks"][callback.key])
        stopper = self._callback(EarlyStopping)
        if stopper is not None:
            stopper.best_state = ckpt["best"]
        if self._device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self._device)

    def _resume_per_rank(self, state: Dict[str, Any]) -> None:
        """This rank's epoch totals and RNG state from a checkpoint. Written by a group of another
        size (or by one process), the epoch's totals so far go to rank 0 and the ranks without a
        saved RNG state draw from (seed, rank, step); ``ProgressBar`` says so."""
        g = self.group
        saved = state.get("world_size", 1)
        totals, rngs = state["totals"], state["rng"]
        if isinstance(totals, dict):
            totals, rngs = [totals], [rngs]
        if saved == g.world_size:
            self.totals = EpochTotals.from_state(totals[g.rank], self._device)
            torch.set_rng_state(rngs[g.rank])
            return
        self.totals = EpochTotals.merged(totals, self._device) if g.main else EpochTotals()
        if g.rank < len(rngs):
            torch.set_rng_state(rngs[g.rank])
        else:
            torch.manual_seed(hash((self.config.seed, g.rank, self.step)) % 2**63)
        self.resumed_from_world = saved

    # ------------------------------------------------------------------ inference
    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (binary) or predictions (regression), float64 [N]. In a group each rank
        scores its part of the rows and every rank gets them all (a collective call)."""
        if not self.group.active:
            return predict(self.model, data, self.config.eval_batch_size, self.bf16)
        part = distributed.shard(len(data), self.group)
        rows = EncodedArrays(data.cat[part], data.num[part], data.seq[part], None)
        return np.concatenate(distributed.gather(predict(self.model, rows, self.config.eval_batch_size, self.bf16)))

    def evaluate(self, data: EncodedArrays) -> Dict[str, float]:
        """Metrics on labelled ``data`` (``inference.evaluate``; in a group, of all its rows)."""
        return metrics_of(self.model, data, self.predict(data), self.config.group_field)
