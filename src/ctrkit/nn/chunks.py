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
    glibc returns to the kernel after every step and faults back in, and which never stay in cache.

    On CPU ``fn`` runs outside bfloat16 autocast, on float32 input, unless ``keep_autocast``: then
    it runs under the caller's autocast (AutoInt's attention gains from bfloat16, FiGNN's 16-wide
    graph loses; docs/performance.md).

    Args:
        fn: a row-wise block, x [B, ...] → a tensor or tuple of tensors with B rows.
        x: its input.
        row_bytes: the size of ``fn``'s largest intermediate per row (the blocks' ``row_bytes()``).
        keep_autocast: run ``fn`` under the caller's autocast.

    Returns:
        ``fn(x)``.
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
