"""What every reader yields: ``Chunk``s of Arrow record batches from a ``Source``.

Chunks remember where they start in the original input, so the processor can name the line or
row of a bad value."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from ...errors import DataError

DEFAULT_BLOCK_BYTES = 4 << 20  # small parse blocks measured fastest; chunks regroup them
DEFAULT_CHUNK_ROWS = 131_072   # rows per chunk: the fastest of those measured (docs/performance.md)


@dataclass
class Chunk:
    """A slice of a source: ``first_row`` is its 0-based row index in the source (in its file, for
    a source of several files), and ``first_line`` the 1-based line number of that row in a text
    file (None otherwise); ``lines``, when given, is the line of each row (rows drawn from a file,
    e.g. a random split of it). A source of several files (``PartsSource``) also gives the file's
    index in it, ``part``, and its path, ``source``, for errors."""

    batch: pa.RecordBatch
    first_row: int
    first_line: Optional[int] = None
    lines: Optional[np.ndarray] = None
    part: int = 0
    source: Optional[str] = None

    def locate(self, index: int) -> dict:
        """Keyword arguments for ``DataError`` that point at row ``index`` of this chunk."""
        if self.lines is not None:
            return {"line": int(self.lines[index])}
        if self.first_line is not None:
            return {"line": self.first_line + index}
        return {"row": self.first_row + index}


class Source:
    """Something that yields ``Chunk``s. ``skipped`` counts bad rows dropped on request."""

    name: str = "<data>"
    skipped: int = 0
    on_bad_rows: str = "error"   # 'skip': the processor also skips rows with bad values, and counts them

    @property
    def columns(self) -> List[str]:
        raise NotImplementedError

    def chunks(self) -> Iterator[Chunk]:
        raise NotImplementedError

    def share(self, rank: int, world_size: int) -> "Source":
        """The rows that process ``rank`` of ``world_size`` reads when several prepare this source
        together: consecutive shares, in rank order, that hold every row once, each read in the
        same chunks as one process reading all of it would. By default rank 0 reads everything
        (sources of several files, Parquet files and tables in memory split their rows)."""
        return self if rank == 0 else NoRows(self)

    def read_all(self) -> pa.Table:
        return self.read_all_with_lines()[0]

    def read_all_with_lines(self) -> Tuple[pa.Table, Optional[np.ndarray]]:
        """Every row, and the line each came from in a text file (None when lines are not known)."""
        chunks = list(self.chunks())
        if not chunks:
            raise DataError("no data rows", source=self.name)
        lines = None
        if all(c.first_line is not None or c.lines is not None for c in chunks):
            lines = np.concatenate([c.lines if c.lines is not None else
                                    c.first_line + np.arange(c.batch.num_rows, dtype=np.int64) for c in chunks])
        return pa.Table.from_batches([c.batch for c in chunks]), lines


class NoRows(Source):
    """A share with no rows of ``source`` (its columns, name and bad-row policy)."""

    def __init__(self, source: Source) -> None:
        self._columns, self.name, self.on_bad_rows = source.columns, source.name, source.on_bad_rows

    @property
    def columns(self) -> List[str]:
        return list(self._columns)

    def chunks(self) -> Iterator[Chunk]:
        return iter(())


def share_of(weights: Sequence[float], rank: int, world_size: int) -> range:
    """The consecutive items (of sizes ``weights``) that ``rank`` of ``world_size`` takes: each item
    goes to the rank whose equal part of the total holds the item's middle."""
    total = float(sum(weights)) or 1.0
    before, first, stop = 0.0, None, 0
    for i, w in enumerate(weights):
        owner = min(int(world_size * (before + w / 2) / total), world_size - 1)
        before += w
        if owner == rank:
            first = i if first is None else first
            stop = i + 1
    return range(first, stop) if first is not None else range(0)
