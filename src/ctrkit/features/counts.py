"""Token counts of one vocabulary, gathered chunk by chunk from dictionary-encoded columns.

Each chunk contributes its dictionary (distinct tokens) and a count per entry. Merging hashes only
the dictionaries, never the rows again, and it also maps every chunk's entries to the merged
tokens: a chunk's codes, kept from the counting pass, become vocabulary ids without a second
lookup over the rows (``Processor.fit_transform``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import vocabulary_positions

_LARGE_BYTES = 1 << 30  # concatenated dictionaries above this use 64-bit string offsets


@dataclass
class _Merged:
    tokens: pa.Array        # distinct tokens over all chunks
    entry_token: np.ndarray  # for every added dictionary entry, in order: its index in ``tokens``
    starts: np.ndarray      # where each slot's entries begin in ``entry_token``
    counts: np.ndarray      # occurrences of each of ``tokens``


class TokenCounts:
    """Counts per token over chunks; ``add`` returns the chunk's slot for ``slot_positions``."""

    def __init__(self) -> None:
        self._dictionaries: List[pa.Array] = []
        self._counts: List[np.ndarray] = []
        self._merged: Optional[_Merged] = None

    def add(self, dictionary: pa.Array, counts: np.ndarray) -> int:
        """Add a chunk: its distinct tokens and how often each occurred. Returns its slot."""
        self._dictionaries.append(dictionary)
        self._counts.append(np.asarray(counts, dtype=np.int64))
        self._merged = None
        return len(self._dictionaries) - 1

    def _merge(self) -> _Merged:
        if self._merged is None:
            dictionaries = self._dictionaries or [pa.array([], pa.string())]
            if sum(d.nbytes for d in dictionaries) > _LARGE_BYTES:
                dictionaries = [d.cast(pa.large_string()) for d in dictionaries]
            encoded = pc.dictionary_encode(pa.concat_arrays(dictionaries))
            entry_token = encoded.indices.to_numpy(zero_copy_only=False)
            counts = np.concatenate(self._counts) if self._counts else np.empty(0, np.int64)
            totals = np.bincount(entry_token, weights=counts, minlength=len(encoded.dictionary))
            starts = np.cumsum([0] + [len(d) for d in self._dictionaries])
            self._merged = _Merged(encoded.dictionary, entry_token, starts, np.rint(totals).astype(np.int64))
        return self._merged

    def table(self) -> pa.Table:
        """(token, count) of every token seen (count > 0)."""
        merged = self._merge()
        seen = merged.counts > 0
        return pa.table({"token": merged.tokens.cast(pa.string()).filter(pa.array(seen)),
                         "count": merged.counts[seen]})

    def compact(self) -> None:
        """Merge all chunks into one, to bound memory while fitting; earlier slots become invalid."""
        self.__dict__.update(self.compacted().__dict__)

    def compacted(self) -> "TokenCounts":
        """A copy with all chunks merged into one (this one keeps its slots)."""
        table, out = self.table(), TokenCounts()
        out.add(table["token"].combine_chunks(), table["count"].to_numpy())
        return out

    def slot_positions(self, vocabulary: pa.Array) -> List[np.ndarray]:
        """For each slot, the position in ``vocabulary`` of each of its dictionary entries (-1: absent)."""
        merged = self._merge()
        positions = vocabulary_positions(merged.tokens, vocabulary.cast(merged.tokens.type))
        return [positions[merged.entry_token[a:b]] for a, b in zip(merged.starts[:-1], merged.starts[1:])]
