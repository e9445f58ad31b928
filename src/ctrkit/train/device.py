"""Where training runs: the ``train.device`` option checked (without torch for ``model``, ``auto``
and ``cpu``) and resolved to a torch device."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import torch

    from ..models.base import CTRModel

DEVICES = "model, auto, cpu, cuda or cuda:N"


def check_device(name: str) -> None:
    """Raise ValueError unless ``name`` is a device this machine has.

    Args:
        name: ``model`` (where the model's parameters are), ``auto`` (CUDA when available, else the
            CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    """
    if name in ("model", "auto", "cpu"):
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"train.device {name!r}: expected {DEVICES}") from None
    if device.type == "cpu":
        return
    if device.type != "cuda":
        raise ValueError(f"train.device {name!r}: expected {DEVICES}")
    if not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"train.device {name!r}: CUDA is not available here (torch {torch.__version__}, {build}); "
                         "use 'cpu' or 'auto'")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"train.device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered from 0")


def resolve_device(name: str, model: "CTRModel") -> "torch.device":
    """The device that ``train.device`` = ``name`` means for ``model`` (see ``check_device``)."""
    import torch

    check_device(name)
    if name == "model":
        return model.device
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def available_memory() -> Optional[int]:
    """Bytes of memory this machine can still give (``MemAvailable`` of /proc/meminfo), or None
    where that cannot be told."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
