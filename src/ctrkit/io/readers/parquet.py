"""Parquet files."""
from __future__ import annotations

import os
from typing import Iterator, List

import pyarrow.parquet as pq

from ...errors import DataError
from .base import DEFAULT_CHUNK_ROWS, Chunk, Source


class ParquetSource(Source):
    """A Parquet file, read by row groups in batches."""

    def __init__(self, path: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        self.path = self.name = str(path)
        self.chunk_rows = chunk_rows

    @property
    def columns(self) -> List[str]:
        return list(pq.ParquetFile(self.path).schema_arrow.names)

    def chunks(self) -> Iterator[Chunk]:
        row = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_rows):
            if batch.num_rows:
                yield Chunk(batch, row)
                row += batch.num_rows
        if row == 0:
            raise DataError("the file has no data rows", source=self.name)
