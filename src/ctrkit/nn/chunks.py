"""How the per-sample interaction blocks (AFM pooling, AutoInt attention, FiGNN graph) run on CPU:
in blocks of rows, in float32 unless the caller keeps its autocast."""
from __future__ import annotations

from typing import Callable, Tuple, TypeVar

import torch

T = TypeVar("T", torch.Tensor, Tuple[torch.Tensor, ...])

CHUNK_BYTES = 3 * 2**20


def in_row_chunks(fn: Callable[[torch.Tensor], T], x: torch.Tensor, row_bytes: int,
                  keep_autocast: bool = False) -> T:
    """``fn(x)``, on CPU computed on blocks of rows of ``x`` and concatenated along dim 0.

    ``fn`` must treat rows independently (no batch statistics) and return a tensor or a tuple of
    tensors with the rows on dim 0, so the result and its gradients equal ``fn(x)``. ``row_bytes``
    is the size of ``fn``'s largest intermediate per row; blocks of equal size hold at most about
    ``CHUNK_BYTES`` of it.
    Why: whole-batch intermediates of the interaction blocks are 50-200 MB at batch 4096, which
    glibc returns to the kernel after every step and faults back in, and which never stay in cache;
    in blocks, one training step at batch 4096 and 39 fields took 0.3 s instead of 2.2 s for AFM's
    pooling, 0.55 s instead of 1.0 s for AutoInt's three attention layers, 0.32 instead of 0.39 s
    for FiGNN's graph (2-core CPU).

    On CPU ``fn`` runs outside bfloat16 autocast, on float32 input, unless ``keep_autocast``: then
    it runs under the caller's autocast. FiGNN's graph (16-wide matrices) ran 1.5× slower in
    bfloat16, and AutoInt's attention 2.2× slower while it used SDPA; with explicit bmm, AutoInt
    trained 1.6× (heads of 16) to 2.1-2.4× (heads of 32) faster in bfloat16, 0.95× with heads of 8
    (40,960 synthetic rows, batch 4096), so AutoInt keeps autocast.
    """
    if x.device.type != "cpu" or torch.jit.is_tracing():
        return fn(x)   # GPUs want the whole batch, and have no such faults; an exported graph runs whole
                       # batches in its runtime's own memory arena
    if keep_autocast:
        return _in_blocks(fn, x, row_bytes)
    with torch.autocast("cpu", enabled=False):
        return _in_blocks(fn, x.float(), row_bytes)


def _in_blocks(fn: Callable[[torch.Tensor], T], x: torch.Tensor, row_bytes: int) -> T:
    blocks = -(-x.shape[0] * max(1, row_bytes) // CHUNK_BYTES)     # ceil
    if blocks <= 1:
        return fn(x)
    parts = [fn(block) for block in x.split(-(-x.shape[0] // blocks))]   # blocks of equal size
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return tuple(torch.cat(column) for column in zip(*parts))
