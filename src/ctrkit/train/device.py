"""Where training runs: the ``train.device`` option checked (without torch for ``model``, ``auto``
and ``cpu``) and resolved to a torch device; whether it computes bfloat16 natively and so which
precision ``train.bf16: auto`` means; the cores and memory this machine has left."""
from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Optional, Tuple

from ..io.threads import cores

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


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")   # /proc/cpuinfo flags of CPUs with bfloat16 arithmetic


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The instruction-set flags of this machine's CPU (/proc/cpuinfo; empty where unreadable)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: "torch.device") -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA device with bf16 (Ampere and later) or
    a CPU with AVX512-BF16 or AMX. Elsewhere torch emulates it, many times slower than float32."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def resolve_bf16(setting: Optional[bool], model: "CTRModel", device: "torch.device",
                 native: Optional[bool] = None) -> Tuple[bool, str]:
    """Whether to train and predict ``model`` under bfloat16 autocast, and why, in words.

    Args:
        setting: ``train.bf16``: True or False decide; None (``auto``) means bfloat16 where the
            device computes it natively (``native``, default ``native_bf16(device)``) and the model
            was measured to gain from it at the same AUC (``CTRModel.bf16_pays``).
    """
    name = type(model).__name__
    if setting is not None:
        return bool(setting), f"train.bf16: {str(bool(setting)).lower()}"
    if not model.bf16_pays:
        return False, f"auto: {name} was measured no faster in bfloat16"
    if not (native_bf16(device) if native is None else native):
        return False, f"auto: this {device.type.upper()} has no native bfloat16"
    return True, f"auto: this {device.type.upper()} computes bfloat16 natively and {name} gains from it"


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


class FreeCores:
    """The cores left to this process by the others, for sizing torch's thread pool.

    Worker threads that wait by spinning lose most of their speed when another busy process takes
    one of their cores (a step waits for its slowest thread: 3.1-3.4× slower with one competitor on
    2 cores, ``benchmarks/RESULTS.md``); fewer threads than cores avoid that. ``threads()`` counts
    the CPU time other processes used on this process's cores since the last call (from
    /proc/stat, minus this process's own time), without blocking; the first call samples
    ``first_sample_s``. Where /proc/stat cannot be read, every core counts as free.
    """

    def __init__(self, first_sample_s: float = 0.05) -> None:
        self.cores = cores()
        try:
            self._cpus = sorted(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            self._cpus = []
        self._last = self._read()
        if self._last is not None and first_sample_s > 0:
            time.sleep(first_sample_s)

    def _read(self) -> Optional[Tuple[float, float, float]]:
        """(busy seconds of the allowed CPUs, this process's CPU seconds, wall time), or None."""
        try:
            with open("/proc/stat") as fh:
                lines = [line.split() for line in fh if line.startswith("cpu") and not line.startswith("cpu ")]
        except OSError:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy = 0.0
        for parts in lines:
            cpu = int(parts[0][3:])
            if self._cpus and cpu not in self._cpus:
                continue
            values = [int(v) for v in parts[1:9]]
            busy += sum(values) - values[3] - values[4]          # all but idle and iowait
        own = os.times()
        return busy / tick, own.user + own.system, time.monotonic()

    def threads(self) -> int:
        """Threads to use now: the free cores, rounded, at least 1."""
        now = self._read()
        if now is None or self._last is None:
            return self.cores
        wall = now[2] - self._last[2]
        if wall <= 0:
            return self.cores
        others = max(0.0, (now[0] - self._last[0]) - (now[1] - self._last[1])) / wall
        self._last = now
        return max(1, min(self.cores, int(self.cores - others + 0.5)))
