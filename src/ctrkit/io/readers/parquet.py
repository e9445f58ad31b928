"""Parquet files."""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow.parquet as pq

from ...errors import DataError
from .base import DEFAULT_CHUNK_ROWS, Chunk, Source, share_of

Piece = Tuple[int, int]   # row groups [first, stop) read together


class ParquetSource(Source):
    """A Parquet file, read in batches of up to ``chunk_rows`` rows.

    The file is read in pieces: runs of consecutive row groups of up to ``chunk_rows`` rows in all
    (a larger group is a piece alone), found from the file's metadata. A piece's chunks are the
    same whoever reads it, so ``share`` hands out whole pieces (``pieces`` restricts a source to
    some of them)."""

    def __init__(self, path: str, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 pieces: Optional[Sequence[Piece]] = None) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        self.path = self.name = str(path)
        self.chunk_rows = chunk_rows
        self.pieces = None if pieces is None else list(pieces)

    @property
    def columns(self) -> List[str]:
        return list(pq.ParquetFile(self.path).schema_arrow.names)

    def all_pieces(self) -> Tuple[List[Piece], np.ndarray]:
        """Every piece of the file, and the row each row group starts at (one more: the row count)."""
        meta = pq.ParquetFile(self.path).metadata
        rows = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        pieces: List[Piece] = []
        for g, n in enumerate(rows):
            if pieces and pieces[-1][1] == g and sum(rows[pieces[-1][0]:g]) + n <= self.chunk_rows:
                pieces[-1] = (pieces[-1][0], g + 1)
            else:
                pieces.append((g, g + 1))
        return pieces, np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])

    def chunks(self) -> Iterator[Chunk]:
        every, starts = self.all_pieces()
        reader = pq.ParquetFile(self.path)
        for first, stop in every if self.pieces is None else self.pieces:
            row = int(starts[first])
            for batch in reader.iter_batches(batch_size=self.chunk_rows, row_groups=list(range(first, stop))):
                if batch.num_rows:
                    yield Chunk(batch, row)
                    row += batch.num_rows
        if self.pieces is None and starts[-1] == 0:
            raise DataError("the file has no data rows", source=self.name)

    def share(self, rank: int, world_size: int) -> "ParquetSource":
        every, starts = self.all_pieces()
        pieces = self.pieces if self.pieces is not None else every
        mine = share_of([int(starts[b] - starts[a]) for a, b in pieces], rank, world_size)
        out = ParquetSource(self.path, self.chunk_rows, [pieces[i] for i in mine])
        out.name = self.name
        return out
