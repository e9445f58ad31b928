"""Checkpoints: weights in safetensors, trainer state beside them, written atomically.

A checkpoint folder holds ``model.safetensors`` (the weights), ``best.safetensors`` (the best
weights so far, if any) and ``state.pt`` (optimizer states, epoch, step, RNG state, history and
early-stopping counters; tensors and plain values only, loaded with ``weights_only=True``).
It is written to ``<name>.tmp`` and renamed into place, so a crash never leaves a half-written
checkpoint; the previous one is kept as ``<name>.old`` until the rename succeeds.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Dict, Optional

import torch
from safetensors.torch import load_file, save_file

from ..errors import reading


def _contiguous(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def _save(state: Dict[str, torch.Tensor], path: str) -> None:
    """A safetensors file with the permissions of any file this process makes (the umask's), not
    the owner-only ones safetensors gives its files."""
    save_file(_contiguous(state), path)
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    """This process's umask, read without changing it (Linux); else set and restored at once."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
        return umask


def save_weights(path: str, state: Dict[str, torch.Tensor]) -> None:
    """Weights as one safetensors file (atomic)."""
    _save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_weights(path: str) -> Dict[str, torch.Tensor]:
    with reading(path, "weights file"):
        return load_file(path)


def save_checkpoint(folder: str, model_state: Dict[str, torch.Tensor], trainer_state: Dict[str, Any],
                    best_state: Optional[Dict[str, torch.Tensor]] = None) -> None:
    tmp, old = folder + ".tmp", folder + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    _save(model_state, os.path.join(tmp, "model.safetensors"))
    if best_state is not None:
        _save(best_state, os.path.join(tmp, "best.safetensors"))
    torch.save(trainer_state, os.path.join(tmp, "state.pt"))
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(folder):
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(folder: str) -> Optional[str]:
    """The checkpoint to resume from: ``folder``, or ``folder.old`` if a save was interrupted."""
    for candidate in (folder, folder + ".old"):
        if os.path.exists(os.path.join(candidate, "state.pt")):
            return candidate
    return None


def load_checkpoint(folder: str) -> Dict[str, Any]:
    """{'model': weights, 'best': weights or None, 'state': trainer state}."""
    best = os.path.join(folder, "best.safetensors")
    state = os.path.join(folder, "state.pt")
    with reading(state, "checkpoint's trainer state"):
        # on the CPU: the RNG state must be there, and the optimizers move their state to their
        # parameters' device when they load it
        trainer_state = torch.load(state, map_location="cpu", weights_only=True)
    return {"model": load_weights(os.path.join(folder, "model.safetensors")),
            "best": load_weights(best) if os.path.exists(best) else None, "state": trainer_state}
