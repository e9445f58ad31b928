"""BatchLoader: batches of encoded arrays as torch tensors, with no per-row Python."""
from __future__ import annotations

from typing import Iterator, List, Tuple, Union

import numpy as np
import torch

from .batch import Batch
from ..io.store import EncodedArrays

SHUFFLES = ("rows", "blocks", "none")


class BatchLoader:
    """Yields ``Batch``es of ``batch_size`` rows from ``EncodedArrays`` (in memory or memory-mapped).

    shuffle:
      ``"rows"``   a fresh permutation of all rows each epoch (rows gathered into new arrays);
      ``"blocks"`` contiguous slices taken in a shuffled order: zero-copy (``torch.from_numpy``
                   on the slice), for data larger than memory or already shuffled at rest;
      ``"none"``   contiguous slices in order (evaluation).
    The order depends only on ``seed`` and the epoch (``set_epoch``; iterating advances it).
    With ``world_size > 1``, ``batch_size`` is the global batch: every rank sees the same order and
    takes its contiguous part of each batch (``rows * rank // world_size`` up to the next rank's
    start), so all ranks step the same number of times and together see exactly the batches one
    process would. A last batch with fewer rows than ranks is left out (it cannot be split).
    ``step_rows`` is the global size of the batch last yielded (the trainer weights each rank's
    loss by its part of it).

    Args:
        data: the encoded split.
        batch_size: rows per batch (the last may be smaller unless ``drop_last``).
        shuffle: ``rows``, ``blocks`` or ``none`` (True / False: ``rows`` / ``none``).
        seed: seeds the order with the epoch.
        drop_last: leave out a last batch smaller than ``batch_size``.
        rank, world_size: this process's shard of the batches.
    """

    def __init__(self, data: EncodedArrays, batch_size: int = 1024, shuffle: Union[str, bool] = "rows",
                 seed: int = 0, drop_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if shuffle is True:
            shuffle = "rows"
        elif shuffle is False:
            shuffle = "none"
        if shuffle not in SHUFFLES:
            raise ValueError(f"shuffle must be one of {SHUFFLES}, got {shuffle!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.seed, self.drop_last, self.rank, self.world_size = seed, drop_last, rank, world_size
        self.epoch = 0
        self._start = 0
        self.step_rows = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """The next iteration yields epoch ``epoch``'s batches from its ``start``-th on (a resumed
        epoch: the batches before it are not gathered)."""
        self.epoch, self._start = epoch, start

    def _spans(self) -> List[Tuple[int, int, int]]:
        """(start, stop, global rows) of this rank's part of each batch, in order."""
        n = len(self.data)
        stop = n - n % self.batch_size if self.drop_last else n
        spans = [(s, min(s + self.batch_size, n)) for s in range(0, stop, self.batch_size)]
        if self.shuffle == "blocks":
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(spans))
            spans = [spans[i] for i in order]
        w, r = self.world_size, self.rank
        return [(s + (e - s) * r // w, s + (e - s) * (r + 1) // w, e - s) for s, e in spans if e - s >= w]

    def __len__(self) -> int:
        return len(self._spans())

    def __iter__(self) -> Iterator[Batch]:
        spans = self._spans()[self._start:]
        self._start = 0
        perm = None
        if self.shuffle == "rows":
            perm = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data))
        self.epoch += 1
        d = self.data
        for start, stop, rows in spans:
            self.step_rows = rows
            if perm is None:
                yield _batch(d.cat[start:stop], d.num[start:stop], d.seq[start:stop],
                             None if d.label is None else d.label[start:stop])
            else:
                idx = np.sort(perm[start:stop])  # sorted: sequential reads from memory maps
                yield _batch(d.cat[idx], d.num[idx], d.seq[idx], None if d.label is None else d.label[idx])


def _batch(cat: np.ndarray, num: np.ndarray, seq: np.ndarray, label: Union[np.ndarray, None]) -> Batch:
    return Batch(torch.from_numpy(cat), torch.from_numpy(num), torch.from_numpy(seq),
                 None if label is None else torch.from_numpy(label))
