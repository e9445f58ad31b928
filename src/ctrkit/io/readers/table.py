"""In-memory tables: Arrow, pandas and polars."""
from __future__ import annotations

from typing import Any, Iterator, List, Optional

import numpy as np
import pyarrow as pa

from .base import DEFAULT_CHUNK_ROWS, Chunk, Source


class TableSource(Source):
    """An in-memory Arrow table, or a pandas / polars DataFrame converted to one; ``lines`` (the
    line of each row in the file it was read from) lets errors name the file's real line."""

    def __init__(self, data: Any, name: str = "<DataFrame>", chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 on_bad_rows: str = "error", lines: Optional[np.ndarray] = None) -> None:
        self.table = to_arrow_table(data)
        self.lines = lines
        self.name = name
        self.on_bad_rows = on_bad_rows
        self.chunk_rows = chunk_rows

    @property
    def columns(self) -> List[str]:
        return list(self.table.column_names)

    def chunks(self) -> Iterator[Chunk]:
        row = 0
        for batch in self.table.to_batches(max_chunksize=self.chunk_rows):
            if batch.num_rows:
                yield Chunk(batch, row, lines=None if self.lines is None else self.lines[row:row + batch.num_rows])
                row += batch.num_rows


def to_arrow_table(data: Any) -> pa.Table:
    """An Arrow table from an Arrow table/batch, a pandas or a polars DataFrame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    raise TypeError(f"expected an Arrow table, a pandas or a polars DataFrame, got {type(data).__name__}")
