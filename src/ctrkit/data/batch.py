"""The batch every model consumes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class Batch:
    """Encoded inputs of B rows.

    cat:   int32 [B, n_cat]  ids into the fused embedding table
    num:   float32 [B, n_num] scaled numeric values
    seq:   int32 [B, n_seq, L] ids, 0 = padding
    label: float32 [B] or None for unlabelled data
    """

    cat: torch.Tensor
    num: torch.Tensor
    seq: torch.Tensor
    label: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.cat.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(move(self.cat), move(self.num), move(self.seq), move(self.label))
