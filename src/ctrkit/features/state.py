"""What a fitted processor knows of each field, typed: ``NumericState`` and ``TableState``.

Saved in processor.json as one mapping per field (``to_dict``), the same keys as before they were
typed, so processors and fingerprints written earlier load unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union


@dataclass
class NumericState:
    """A numeric field: its moments over the fitted rows (after ``log``) and, when bucketed, the bin
    ``edges`` and its block of ids ``[offset, offset + size)`` (OOV, missing, then one id per bin)."""

    count: int
    missing: int
    mean: float
    std: float
    min: float
    max: float
    edges: Optional[List[float]] = None
    offset: int = 0
    size: int = 0

    @property
    def bucketed(self) -> bool:
        return self.edges is not None


@dataclass
class TableState:
    """A categorical or sequence field: its block of the fused table ``[offset, offset + size)``
    and, for a field that owns the block, its tokens in id order (``vocab``; None for a field that
    shares its owner's block); ``max_len`` for sequences, ``pretrained_dim`` for pretrained vectors."""

    offset: int
    size: int
    vocab: Optional[List[str]] = None
    max_len: int = 0
    pretrained_dim: Optional[int] = None


FieldState = Union[NumericState, TableState]


def state_to_dict(state: FieldState) -> Dict[str, Any]:
    """The JSON mapping of a field's state (optional keys left out when unset)."""
    out = dataclasses.asdict(state)
    if isinstance(state, NumericState):
        if state.edges is None:
            for key in ("edges", "offset", "size"):
                out.pop(key)
        return out
    for key in ("vocab", "pretrained_dim"):
        if out[key] is None:
            out.pop(key)
    if not state.max_len:
        out.pop("max_len")
    return out


def state_from_dict(data: Dict[str, Any]) -> FieldState:
    return NumericState(**data) if "mean" in data else TableState(**data)
