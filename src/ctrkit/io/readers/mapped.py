"""A source with a function applied to each chunk."""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, List, Optional, Sequence

import pyarrow as pa

from .base import Chunk, Source


class MappedSource(Source):
    """Another source with a function applied to each chunk's batch (cleaning, derived columns).

    The function must keep the rows (it may change and add columns), so locations stay right.
    """

    def __init__(self, source: Source, fn: Callable[[pa.RecordBatch], pa.RecordBatch],
                 columns: Sequence[str], name: Optional[str] = None) -> None:
        self.source, self.fn, self._columns = source, fn, list(columns)
        self.name = name or source.name
        self.on_bad_rows = source.on_bad_rows

    @property
    def columns(self) -> List[str]:
        return list(self._columns)

    def share(self, rank: int, world_size: int) -> "MappedSource":
        return MappedSource(self.source.share(rank, world_size), self.fn, self._columns, self.name)

    def chunks(self) -> Iterator[Chunk]:
        for chunk in self.source.chunks():
            yield dataclasses.replace(chunk, batch=self.fn(chunk.batch))
        self.skipped = self.source.skipped
