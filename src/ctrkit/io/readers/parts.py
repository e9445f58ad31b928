"""Several files read as one input: a glob (``day_*.parquet``) or a list of paths."""
from __future__ import annotations

import glob
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ...errors import DataError
from .base import Chunk, Source, share_of
from .parquet import ParquetSource

Piece = Tuple[int, Optional[Tuple[int, int]]]   # (file, row groups [first, stop) of a Parquet file, or None)


def glob_paths(pattern: str) -> List[str]:
    """The files ``pattern`` matches, sorted; an error when none does."""
    paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not paths:
        raise FileNotFoundError(f"{pattern}: no file matches")
    return paths


class PartsSource(Source):
    """Files with the same columns read one after another, in the order given, as one source.

    Each chunk comes from one file: ``Chunk.part`` is the file's index and ``Chunk.source`` its
    path, so an error names the file and its line (or row). ``open_file`` opens one path (the
    reader options of the whole apply to every file). ``share`` splits the files, and a Parquet
    file's row groups, between processes by rows (text files by bytes)."""

    def __init__(self, paths: Sequence[str], open_file: Callable[[str], Source], name: Optional[str] = None,
                 on_bad_rows: str = "error", pieces: Optional[Sequence[Piece]] = None) -> None:
        if not paths:
            raise ValueError("PartsSource needs at least one file")
        self.paths, self.open_file = [os.fspath(p) for p in paths], open_file
        self.name = name or ", ".join(self.paths)
        self.on_bad_rows = on_bad_rows
        self.pieces = None if pieces is None else list(pieces)
        self._sources: Dict[int, Source] = {}

    def _source(self, i: int) -> Source:
        if i not in self._sources:
            self._sources[i] = self.open_file(self.paths[i])
        return self._sources[i]

    @property
    def columns(self) -> List[str]:
        return self._source(0).columns

    def all_pieces(self) -> Tuple[List[Piece], List[float]]:
        """Every piece (a text file, or a run of a Parquet file's row groups) and its weight."""
        pieces: List[Piece] = []
        weights: List[float] = []
        for i in range(len(self.paths)):
            source = self._source(i)
            if isinstance(source, ParquetSource):
                groups, starts = source.all_pieces()
                pieces += [(i, g) for g in groups]
                weights += [float(starts[b] - starts[a]) for a, b in groups]
            else:
                pieces.append((i, None))
                weights.append(float(os.path.getsize(self.paths[i])))
        return pieces, weights

    def chunks(self) -> Iterator[Chunk]:
        self.skipped = 0
        pieces = self.pieces if self.pieces is not None else [(i, None) for i in range(len(self.paths))]
        expected = self.columns
        for i in sorted({i for i, _ in pieces}):
            source = self._source(i)
            if source.columns != expected:
                raise DataError(f"columns {source.columns} differ from those of {self.paths[0]}: {expected} "
                                "(every file of the input needs the same columns)", source=self.paths[i])
            groups = [g for j, g in pieces if j == i]
            if isinstance(source, ParquetSource) and None not in groups:
                source = ParquetSource(source.path, source.chunk_rows, groups)
            for chunk in source.chunks():
                chunk.part, chunk.source = i, self.paths[i]
                yield chunk
            self.skipped += source.skipped

    def share(self, rank: int, world_size: int) -> "PartsSource":
        if self.pieces is not None:
            raise ValueError("share() splits the whole input, not a share of it")
        pieces, weights = self.all_pieces()
        mine = [pieces[k] for k in share_of(weights, rank, world_size)]
        out = PartsSource(self.paths, self.open_file, self.name, self.on_bad_rows, mine)
        out._sources = self._sources
        return out


def parts_source(paths: Any, open_file: Callable[[str], Source], on_bad_rows: str) -> PartsSource:
    """A ``PartsSource`` of a glob pattern (named by it) or of a list of paths."""
    if isinstance(paths, (str, os.PathLike)):
        return PartsSource(glob_paths(os.fspath(paths)), open_file, os.fspath(paths), on_bad_rows)
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
    return PartsSource(list(paths), open_file, on_bad_rows=on_bad_rows)
