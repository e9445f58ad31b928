"""In-memory tables: Arrow, pandas and polars."""
from __future__ import annotations

from typing import Any, Iterator, List, Optional

import numpy as np
import pyarrow as pa

from .base import DEFAULT_CHUNK_ROWS, Chunk, Source, share_of


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
        self.first_row = 0   # the row of the table's first row in the whole (a share's start)

    @property
    def columns(self) -> List[str]:
        return list(self.table.column_names)

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of exactly ``chunk_rows`` rows (the last one fewer), however the table is batched."""
        for row in range(0, self.table.num_rows, self.chunk_rows):
            batches = self.table.slice(row, self.chunk_rows).to_batches()
            batch = batches[0] if len(batches) == 1 else pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
            yield Chunk(batch, self.first_row + row,
                        lines=None if self.lines is None else self.lines[row:row + batch.num_rows])

    def share(self, rank: int, world_size: int) -> "TableSource":
        """Whole chunks of ``chunk_rows`` rows."""
        n, size = self.table.num_rows, self.chunk_rows
        mine = share_of([min(size, n - s) for s in range(0, n, size)], rank, world_size)
        start, stop = min(mine.start * size, n), min(mine.stop * size, n)
        out = TableSource(self.table.slice(start, stop - start), self.name, size, self.on_bad_rows,
                          None if self.lines is None else self.lines[start:stop])
        out.first_row = self.first_row + start
        return out


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
