"""What one pass over training rows learns before a processor is built from it, mergeable across
shares of the rows: token counts per vocabulary, per-chunk moments of numeric fields, the row
sample that quantile bins are cut from, longest sequences, rows read and rows skipped.

Every part merges exactly: counts add, the sample keeps the smallest row keys of both (its keys
hash each row's place in the input), and the moments of each chunk are kept apart and folded in
row order, the same arithmetic as one pass. So processes that each read a consecutive share of
the input and merge their tallies in share order fit the very processor one process would
(``ctrkit prepare`` under torchrun relies on it)."""
from __future__ import annotations

from collections import Counter
import copy
from typing import Dict, List, Sequence, Tuple

from . import columns as C
from .counts import TokenCounts
from .encode import CodedChunk
from .numeric_stats import Moments, RowSample
from .parse import RAGGED, skipped_counts
from .spec import Schema

COMPACT_EVERY = 8   # chunks between merges of the token counts, to bound memory while counting


class FitTally:
    """The counts of one pass (see the module docstring); ``add`` takes each coded chunk."""

    def __init__(self, schema: Schema, seed: int, with_label: bool = False) -> None:
        numeric = [f for f in schema.fields if f.type == "numeric"]   # bucketed ones too
        self.owners = {f.name: f.share_embedding or f.name for f in schema.fields}
        self.counts: Dict[str, TokenCounts] = {}
        self.moments: Dict[str, List[Moments]] = {f.name: [] for f in numeric}   # one per chunk
        self.sample = RowSample([f.name for f in numeric if f.buckets and f.bucketing == "quantile"], seed)
        self.max_len: Dict[str, int] = {}
        self.rows = 0
        self.skipped_by: Counter = Counter()   # rows the processor skipped, by kind
        self.reader_skipped = 0                # lines the reader skipped
        self.source = "<data>"                 # the input's name, for errors
        self.with_label = with_label           # whether the rows were read with their labels
        self.kept: List[Tuple[CodedChunk, Dict[str, int]]] = []   # chunks' codes (``Processor.tally(keep=True)``)
        self._chunks = 0

    def add(self, coded: CodedChunk, part: int, first_row: int, compact: bool) -> Dict[str, int]:
        """Count a chunk whose rows start at ``first_row`` of input ``part``. Returns each field's
        slot in its vocabulary's counts (``TokenCounts.slot_positions``); with ``compact``, counts
        are merged every ``COMPACT_EVERY`` chunks (earlier slots become invalid)."""
        self.skipped_by.update(coded.skipped)
        self.rows += coded.n
        for name, chunks in self.moments.items():
            chunks.append(Moments.of(coded.numeric[name]))
        self.sample.update(coded.numeric, first_row, part)
        slots = {}
        for name, fc in coded.fields.items():
            tally = self.counts.setdefault(self.owners[name], TokenCounts())
            slots[name] = tally.add(fc.dictionary, C.count_codes(fc.codes, len(fc.dictionary)))
            if fc.rows is not None and len(fc.rows):
                self.max_len[name] = max(self.max_len.get(name, 0), int(C.sequence_lengths(fc.rows, coded.n).max()))
        self._chunks += 1
        if compact and self._chunks % COMPACT_EVERY == 0:
            self.compact()
        return slots

    def compact(self) -> None:
        for tally in self.counts.values():
            tally.compact()

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by.values()) + self.reader_skipped

    def skip_info(self) -> Dict[str, object]:
        """``skipped`` and ``skipped_by`` for the split's manifest (``ctrkit.features.parse.skip_info``)."""
        return skipped_counts(Counter({RAGGED: self.reader_skipped}) + self.skipped_by)

    def shareable(self) -> "FitTally":
        """This tally as another process needs it: counts compacted, no kept codes."""
        out = copy.copy(self)
        out.counts = {name: counts.compacted() for name, counts in self.counts.items()}
        out.kept = []
        return out

    def numeric_moments(self, name: str) -> Moments:
        """Field ``name``'s moments over all rows: its chunks' folded in row order."""
        total = Moments()
        for chunk in self.moments[name]:
            total.merge(chunk)
        return total

    @classmethod
    def merged(cls, tallies: Sequence["FitTally"]) -> "FitTally":
        """One tally of consecutive shares of the rows, given in row order (the first one, with the
        others added to it)."""
        out = tallies[0]
        for other in tallies[1:]:
            for name, counts in other.counts.items():
                other_table = counts.table()
                out.counts.setdefault(name, TokenCounts()).add(other_table["token"].combine_chunks(),
                                                               other_table["count"].to_numpy())
            for name, chunks in other.moments.items():
                out.moments[name].extend(chunks)
            out.sample.merge(other.sample)
            for name, length in other.max_len.items():
                out.max_len[name] = max(out.max_len.get(name, 0), length)
            out.rows += other.rows
            out.skipped_by.update(other.skipped_by)
            out.reader_skipped += other.reader_skipped
        return out
