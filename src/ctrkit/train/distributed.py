"""Training on many processes and machines: the process group that ``torchrun`` describes.

``torchrun`` starts one process per device (or per share of the cores) with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` in their environment; ``join`` makes them
one ``torch.distributed`` group (gloo on the CPU, nccl on CUDA). Outside torchrun, and with one
process, every helper here is the single-process identity, so the trainer and the pipeline call
them unconditionally.

What the group shares is small and explicit: ``broadcast`` (rank 0's value to all), ``gather``
(every rank's value, in rank order), ``sync_buffers``, ``peers`` (the group as data preparation sees
it) and ``on_main`` (work that rank 0 does while the others wait, with its failure raised on every
rank, so a bad file never leaves ranks hanging).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, TypeVar

import torch
import torch.distributed as dist

from ..datasets.parallel import Peers, on_first
from ..errors import CTRKitError
from .options import DISTRIBUTED_DEFAULTS

T = TypeVar("T")


@dataclass(frozen=True)
class Group:
    """This process's place in the group: ``rank`` of ``world_size`` processes, ``local_rank`` of
    ``local_world_size`` on this machine. ``Group()`` is a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched() -> bool:
    """Whether this process was started by torchrun (or ``--nproc``) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def group() -> Group:
    """The group this process belongs to (``Group()`` when none was joined)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Group()
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                 int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def backend_for(options: Dict[str, Any], device: str) -> str:
    """The backend ``options['backend']`` (checked by ``TrainConfig``) means for ``train.device`` =
    ``device``: ``auto`` is nccl where training runs on CUDA, else gloo."""
    backend = options.get("backend", "auto")
    if backend != "auto":
        return backend
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if cuda else "gloo"


def join(options: Optional[Dict[str, Any]] = None, device: str = "model") -> Group:
    """Join the group torchrun started this process in (once; later calls return it), on the
    backend ``options`` and ``device`` say; outside torchrun, ``Group()``. A CUDA process takes the
    GPU of its ``LOCAL_RANK``."""
    if not launched() or not dist.is_available():
        return Group()
    if not dist.is_initialized():
        options = {**DISTRIBUTED_DEFAULTS, **(options or {})}
        backend = backend_for(options, device)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        timeout = datetime.timedelta(seconds=float(options["timeout_s"]))
        dist.init_process_group(backend, timeout=timeout, **_restart_store(timeout))
    return group()


def _restart_store(timeout: datetime.timedelta) -> Dict[str, Any]:
    """After torchrun restarted a group whose workers share the agent's rendezvous store (its
    default), the store still holds the failed attempt's keys, and a new group built on them
    connects to dead processes (pytorch/pytorch#135712). On one machine every worker counts the
    same restarts, so the group is built on keys of this attempt only; across machines the counts
    may differ, and the remedy is torchrun's own: ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``."""
    if not restarted() or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    world, local = int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if world != local:
        raise CTRKitError("torchrun restarted this group across machines, but shares its rendezvous store with the "
                          "workers, where the failed attempt's keys break the new group (pytorch/pytorch#135712): "
                          "start torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in its environment")
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
                          timeout=timeout)
    return {"store": dist.PrefixStore(f"ctrkit/attempt_{restarted()}", store), "rank": int(os.environ["RANK"]),
            "world_size": world}


def leave(finished: bool = True) -> None:
    """Leave the group at the end of a distributed command: when it ``finished``, once every rank
    is done with it; after a failure at once (the others may be inside another collective, and
    torchrun stops them when this process exits)."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def broadcast(value: T) -> T:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not group().active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: T) -> List[T]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    g = group()
    if not g.active:
        return [value]
    out: List[Any] = [None] * g.world_size
    dist.all_gather_object(out, value)
    return out


def on_main(work: Callable[[], T]) -> T:
    """``work()`` on rank 0 while the other ranks wait; every rank gets its result. When ``work``
    fails on rank 0 the others raise a ``CTRKitError`` with its message instead of waiting forever
    (``ctrkit.datasets.parallel.on_first``)."""
    p = peers()
    return work() if p is None else on_first(p, work)


def peers() -> Optional[Peers]:
    """The group as ``ctrkit.datasets.parallel`` sees it, to prepare data together (None: one process)."""
    g = group()
    return Peers(g.rank, g.world_size, gather) if g.active else None


def sync_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers (batch-norm and Dice running statistics) on every rank. DDP sends them
    before each training forward; after the last step each rank holds its own batch's, so this
    runs before every evaluation and at the end of training."""
    if group().active:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def check_sparse(module: torch.nn.Module) -> None:
    """Refuse sparse embedding gradients on a backend that cannot all-reduce them (only gloo can)."""
    sparse = any(m.sparse for m in module.modules() if isinstance(m, torch.nn.Embedding))
    if sparse and group().active and dist.get_backend() != "gloo":
        raise CTRKitError(f"model.sparse: true under the {dist.get_backend()} backend: only gloo all-reduces sparse "
                          "gradients; set model.sparse=false (dense tables) or train.distributed.backend=gloo")


def shard(n: int, g: Optional[Group] = None) -> slice:
    """This rank's contiguous part of ``n`` rows (parts differ in size by at most one row)."""
    g = g or group()
    return slice(n * g.rank // g.world_size, n * (g.rank + 1) // g.world_size)


def restarted() -> int:
    """How many times torchrun restarted this group after a failure (``--max-restarts``)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
