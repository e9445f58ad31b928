"""What a model needs to know about the encoded fields, without the processor's vocabularies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


@dataclass
class FieldSlot:
    """One encoded field: its column in ``cat``/``num``/``seq`` and, for table-backed fields, the
    block ``[offset, offset + size)`` of the fused table and the field that owns that block."""

    name: str
    type: str                     # categorical | numeric | sequence (after bucketing)
    index: int
    embedding_dim: Optional[int] = None
    offset: int = 0
    size: int = 0
    owner: Optional[str] = None
    max_len: int = 0
    pooling: str = "mean"


@dataclass
class Pretrained:
    """Pretrained vectors of a field's own table: their width ``dim``, whether they stay ``frozen``,
    and (when read: a model starting from them) ``vectors`` [size, dim] with the mask ``found`` [size]
    of the rows that came from the file. A run loaded back needs only ``dim``: its weights hold them."""

    dim: int
    freeze: bool = False
    vectors: Optional[np.ndarray] = None
    found: Optional[np.ndarray] = None


@dataclass
class FeatureMap:
    """The fields of a dataset as models see them.

    ``pretrained`` maps an owner field to its ``Pretrained`` vectors.
    """

    fields: List[FieldSlot]
    vocab_size: int
    pretrained: Dict[str, Pretrained] = field(default_factory=dict)

    @classmethod
    def from_processor(cls, processor: Any, vectors: bool = True) -> "FeatureMap":
        """The processor's fields; ``vectors=False`` leaves pretrained vectors unread (their width
        comes from the processor's state), for a model whose weights are loaded afterwards."""
        slots = [FieldSlot(**s) for s in processor.field_slots()]
        pretrained = {}
        for f in processor.schema.fields:
            if not f.pretrained:
                continue
            if vectors:
                matrix, found = processor.pretrained_vectors(f.name)
                pretrained[f.name] = Pretrained(matrix.shape[1], f.freeze, matrix, found)
            else:
                pretrained[f.name] = Pretrained(processor.pretrained_dim(f.name), f.freeze)
        return cls(slots, processor.vocab_size, pretrained)

    @property
    def names(self) -> List[str]:
        return [f.name for f in self.fields]

    def of_type(self, *types: str) -> List[FieldSlot]:
        return [f for f in self.fields if f.type in types]

    def select(self, fields: Optional[Sequence[str]] = None) -> List[FieldSlot]:
        """Fields by name or by type ('categorical', 'numeric', 'sequence'); all when None."""
        if fields is None:
            return list(self.fields)
        chosen = []
        for f in self.fields:
            if f.name in fields or f.type in fields:
                chosen.append(f)
        unknown = set(fields) - {f.name for f in self.fields} - {"categorical", "numeric", "sequence"}
        if unknown:
            raise KeyError(f"unknown field(s) {sorted(unknown)}; fields are {self.names}")
        return chosen
