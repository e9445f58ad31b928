"""Callbacks: what happens around the training loop, as objects the ``Trainer`` calls.

The loop calls, in order of the callback list: ``on_fit_start``, then per epoch ``on_epoch_start``,
``on_step_end`` after each optimizer step, ``on_evaluate`` after each evaluation (with its history
row), ``on_epoch_end``; and ``on_fit_end``. The built-in ones are ``History`` (history.csv),
``EarlyStopping`` (best weights, patience), ``LRPlateau``, ``Checkpoint``, ``ProgressBar`` and
``TensorBoard``; ``Trainer`` makes them from ``TrainConfig`` and adds the user's own after them.

A callback with state that a resumed run must see returns it from ``state_dict`` (plain values and
tensors) and takes it back in ``load_state_dict``; the trainer stores it in the checkpoint, keyed by
the callback's ``key`` (default: the class name).
"""
from __future__ import annotations

import csv
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np
import torch

from .options import monitor_value

if TYPE_CHECKING:
    from ..data.batch import Batch
    from .trainer import Trainer


class Callback:
    """Base class: every hook does nothing; override the ones you need.

    ``trainer.stop_training = True`` in any hook ends ``fit`` after the current step (a mid-epoch
    evaluation) or epoch.
    """

    @property
    def key(self) -> str:
        """The name of this callback's state in a checkpoint."""
        return type(self).__name__

    def on_fit_start(self, trainer: "Trainer") -> None:
        pass

    def on_epoch_start(self, trainer: "Trainer") -> None:
        pass

    def on_step_end(self, trainer: "Trainer", batch: "Batch", loss: torch.Tensor) -> None:
        """After an optimizer step; ``loss`` is the batch's mean loss, detached, on the device (reading
        it with ``.item()`` waits for the device: do it rarely)."""

    def on_evaluate(self, trainer: "Trainer", row: Dict[str, float]) -> None:
        """After an evaluation; ``row`` is its history row (epoch, step, train and valid metrics)."""

    def on_epoch_end(self, trainer: "Trainer") -> None:
        pass

    def on_fit_end(self, trainer: "Trainer") -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class History(Callback):
    """Keeps every history row (``rows``) and, with ``out_dir``, rewrites ``out_dir/history.csv``
    atomically after each evaluation."""

    def __init__(self, out_dir: Optional[str] = None) -> None:
        self.out_dir = out_dir
        self.rows: List[Dict[str, float]] = []

    def on_evaluate(self, trainer: "Trainer", row: Dict[str, float]) -> None:
        self.rows.append(row)
        if self.out_dir is not None:
            write_history(self.out_dir, self.rows)

    def state_dict(self) -> Dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rows = list(state["rows"])


def write_history(folder: str, rows: List[Dict[str, float]]) -> None:
    """``folder/history.csv``: one line per row, columns in order of first appearance (atomic)."""
    os.makedirs(folder, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    path = os.path.join(folder, "history.csv")
    with open(path + ".tmp", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(path + ".tmp", path)


class _Monitor(Callback):
    """Tracks the monitored validation score after each evaluation (rows without validation
    metrics are ignored): ``improved`` when it beats the best by more than ``min_delta``, else
    ``waited`` counts one more evaluation without improvement and ``no_improvement`` is called."""

    def __init__(self, monitor: str = "auto", min_delta: float = 0.0) -> None:
        self.monitor, self.min_delta = monitor, min_delta
        self.best_score = -np.inf
        self.waited = 0

    def on_evaluate(self, trainer: "Trainer", row: Dict[str, float]) -> None:
        metrics = {k[len("valid_"):]: v for k, v in row.items() if k.startswith("valid_")}
        if not metrics:
            return
        monitor = self.monitor
        if monitor == "auto":
            monitor = "auc" if trainer.model.task == "binary" else "mse"
        score = monitor_value(metrics, monitor)
        if score > self.best_score + self.min_delta:
            self.best_score, self.waited = score, 0
            self.improved(trainer)
        else:
            self.waited += 1
            self.no_improvement(trainer)

    def improved(self, trainer: "Trainer") -> None:
        pass

    def no_improvement(self, trainer: "Trainer") -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {"best_score": float(self.best_score), "waited": self.waited}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best_score, self.waited = state["best_score"], state["waited"]


class EarlyStopping(_Monitor):
    """Stops when the monitored score has not improved for more than ``patience`` evaluations, and
    gives the model its best weights back at the end (``best_state``, ``best_epoch``)."""

    def __init__(self, monitor: str = "auto", patience: int = 2, min_delta: float = 0.0) -> None:
        super().__init__(monitor, min_delta)
        self.patience = patience
        self.best_epoch = 0
        self.best_state: Optional[Dict[str, torch.Tensor]] = None

    def improved(self, trainer: "Trainer") -> None:
        self.best_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        self.best_epoch = trainer.epoch if trainer.step_in_epoch == 0 else trainer.epoch + 1

    def no_improvement(self, trainer: "Trainer") -> None:
        if self.waited > self.patience:
            trainer.stop_training = True

    def on_fit_end(self, trainer: "Trainer") -> None:
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> Dict[str, Any]:
        # the best weights go to the checkpoint's best.safetensors, not here
        return {**super().state_dict(), "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.best_epoch = state["best_epoch"]


class LRPlateau(_Monitor):
    """Multiplies every optimizer's learning rate by ``factor`` after ``patience`` evaluations
    without improvement of the monitored score (then counts again from zero)."""

    def __init__(self, factor: float, patience: int = 1, monitor: str = "auto", min_delta: float = 0.0) -> None:
        super().__init__(monitor, min_delta)
        self.factor, self.patience = factor, patience

    def no_improvement(self, trainer: "Trainer") -> None:
        if self.waited >= self.patience:
            for opt in trainer.optimizers:
                for group in opt.param_groups:
                    group["lr"] *= self.factor
            self.waited = 0


class Checkpoint(Callback):
    """Writes the trainer's checkpoint (``Trainer.save_checkpoint``) at each epoch end and every
    ``every_steps`` optimizer steps (0: epoch ends only)."""

    def __init__(self, every_steps: int = 0) -> None:
        self.every_steps = every_steps

    def on_step_end(self, trainer: "Trainer", batch: "Batch", loss: torch.Tensor) -> None:
        if self.every_steps and trainer.step % self.every_steps == 0:
            trainer.save_checkpoint()

    def on_epoch_end(self, trainer: "Trainer") -> None:
        trainer.save_checkpoint()


class ProgressBar(Callback):
    """What a person watching sees: on a terminal, a tqdm bar per epoch with the running loss and
    rate (refreshed every ``refresh_steps`` steps: the loss is read from the device only then); on
    a terminal or not (logs, CI, ``nohup``), one line per evaluation on stderr with the train loss,
    the validation metrics, samples/s and the time left to the last epoch; without a terminal, also
    a line every ``every_s`` seconds within a long epoch (step, running loss, samples/s, time left)."""

    SHOWN = ("auc", "logloss", "mse")

    def __init__(self, refresh_steps: int = 20, every_s: float = 60.0) -> None:
        self.refresh_steps, self.every_s = refresh_steps, every_s
        self._bar = None
        self._tick = self._said = 0.0
        self._start = (0.0, 0)

    def on_fit_start(self, trainer: "Trainer") -> None:
        self._start = (time.perf_counter(), trainer.step)
        self._write(f"{type(trainer.model).__name__} on {trainer.device}: {trainer.precision} ({trainer.bf16_reason})")
        if trainer.step:
            self._write(f"resuming at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch} of "
                        f"{trainer.batches_per_epoch}")
        if trainer.resumed_from_world is not None:
            self._write(f"the checkpoint was written by {trainer.resumed_from_world} process(es), this run has "
                        f"{trainer.group.world_size}: the same global batches, but dropout draws of other ranks differ")

    def on_epoch_start(self, trainer: "Trainer") -> None:
        from tqdm import tqdm

        total = trainer.batches_per_epoch - trainer.step_in_epoch
        self._bar = tqdm(total=total, desc=f"epoch {trainer.epoch + 1}/{trainer.config.epochs}", leave=False,
                         disable=None, dynamic_ncols=True)
        self._tick = self._said = time.perf_counter()

    def on_step_end(self, trainer: "Trainer", batch: "Batch", loss: torch.Tensor) -> None:
        if self._bar is None:
            return
        if self._bar.disable:
            if time.perf_counter() - self._said >= self.every_s:
                self._said = time.perf_counter()
                totals = trainer.totals
                rate = totals.seen / (totals.seconds + self._said - self._tick)
                self._write("  ".join([f"epoch {trainer.epoch + 1}/{trainer.config.epochs}",
                                       f"step {trainer.step_in_epoch} of {trainer.batches_per_epoch}",
                                       f"train loss {totals.mean_loss():.4f}", f"{rate:,.0f} samples/s",
                                       *self._eta(trainer)]))
            return
        self._bar.update(1)
        if trainer.step % self.refresh_steps == 0:
            totals = trainer.totals
            rate = totals.seen / (totals.seconds + time.perf_counter() - self._tick)
            self._bar.set_postfix(loss=f"{totals.mean_loss():.4f}", rate=f"{rate:,.0f}/s")

    def on_evaluate(self, trainer: "Trainer", row: Dict[str, float]) -> None:
        parts = [f"epoch {row['epoch']:g}/{trainer.config.epochs}", f"train loss {row['train_loss']:.4f}"]
        parts += [f"valid {name} {row['valid_' + name]:.4f}" for name in self.SHOWN if "valid_" + name in row]
        if "valid_mean_prediction" in row and "valid_observed_rate" in row:   # calibration at a glance
            parts.append(f"mean p {row['valid_mean_prediction']:.4f} (rate {row['valid_observed_rate']:.4f})")
        parts.append(f"{row['samples_per_second']:,.0f} samples/s")
        self._write("  ".join(parts + self._eta(trainer)))

    def _eta(self, trainer: "Trainer") -> List[str]:
        """``["ETA 3m05s"]`` to the last epoch's end at the rate so far, or [] at the end."""
        started, first_step = self._start
        done = trainer.step - first_step
        left = trainer.config.epochs * trainer.batches_per_epoch - trainer.step
        if done > 0 and left > 0:
            return [f"ETA {_duration((time.perf_counter() - started) / done * left)}"]
        return []

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)

    def on_epoch_end(self, trainer: "Trainer") -> None:
        self._close()

    def on_fit_end(self, trainer: "Trainer") -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class TensorBoard(Callback):
    """Each history row's numbers as TensorBoard scalars in ``out_dir/tensorboard`` (needs the
    tensorboard package)."""

    def __init__(self, out_dir: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("tensorboard: true needs the tensorboard package (pip install tensorboard)") from exc
        self._writer = SummaryWriter(os.path.join(out_dir, "tensorboard"))

    def on_evaluate(self, trainer: "Trainer", row: Dict[str, float]) -> None:
        for key, value in row.items():
            if key not in ("epoch", "step"):
                self._writer.add_scalar(key, value, row["step"])

    def on_fit_end(self, trainer: "Trainer") -> None:
        self._writer.close()
