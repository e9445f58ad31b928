"""Delimited text files (CSV, TSV, optionally compressed), read as strings: the processor decides
how to parse each field and reports values it cannot parse."""
from __future__ import annotations

import codecs
import csv
import io
import os
import threading
import weakref
from typing import Any, Iterator, List, Optional, Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv

from ...errors import DataError
from .base import DEFAULT_BLOCK_BYTES, DEFAULT_CHUNK_ROWS, Chunk, Source


RELEASE_SECONDS = 5.0   # the most a finished read waits for Arrow's threads to drop its row handler


class _RowHandler:
    """Arrow's ``invalid_row_handler``: keeps each row with the wrong number of fields and says
    whether to skip it or fail."""

    def __init__(self, rows: List[Any], skip: bool) -> None:
        self.rows, self.verdict = rows, "skip" if skip else "error"

    def __call__(self, row: Any) -> str:
        self.rows.append(row)
        return self.verdict


class CsvSource(Source):
    """A delimited text file (CSV, TSV, ``.gz``/``.bz2`` compressed), read in blocks.

    Without a header, ``column_names`` must name every column. Lines with the wrong number of
    fields raise a ``DataError`` naming the line, or are skipped and counted when
    ``on_bad_rows='skip'``. Line numbers assume no quoted field spans several lines. Text is
    ``encoding`` (UTF-8 by default, a byte-order mark allowed); bytes that are not valid in it
    raise a ``DataError`` naming the line.
    """

    def __init__(
        self,
        path: str,
        sep: str = ",",
        header: bool = True,
        column_names: Optional[Sequence[str]] = None,
        on_bad_rows: str = "error",
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        quoting: bool = True,
        skip_lines: int = 0,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        encoding: str = "utf-8",
    ) -> None:
        if on_bad_rows not in ("error", "skip"):
            raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        self.path = self.name = str(path)
        self.sep, self.header, self.on_bad_rows = sep, header, on_bad_rows
        self.block_bytes, self.quoting, self.skip_lines = block_bytes, quoting, skip_lines
        self.chunk_rows = chunk_rows
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            raise DataError(f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)", source=path) from None
        self._names = list(column_names) if column_names is not None else None
        if self._names is None and not header:
            raise ValueError(f"{path}: a file without a header needs column_names")
        if self._names is not None and len(set(self._names)) != len(self._names):
            raise DataError(f"duplicate column names in {self._names}", source=self.name)

    @property
    def columns(self) -> List[str]:
        if self._names is None:
            self._names = self._read_header()
        return list(self._names)

    def _read_header(self) -> List[str]:
        with pa.input_stream(self.path, compression="detect") as stream:
            text = io.TextIOWrapper(stream, encoding=self._text_encoding, errors="replace")
            for _ in range(self.skip_lines):
                text.readline()
            first = text.readline()
        if not first.strip():
            raise DataError("the file is empty; expected a header line and rows", source=self.name,
                            line=self.skip_lines + 1)
        names = next(csv.reader([first.rstrip("\r\n")], delimiter=self.sep))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError(f"duplicate column name(s) {dupes} in the header", source=self.name,
                            line=self.skip_lines + 1)
        return names

    @property
    def _text_encoding(self) -> str:
        return "utf-8-sig" if self.encoding == "utf-8" else self.encoding

    def chunks(self) -> Iterator[Chunk]:
        names = self.columns
        self.skipped = 0
        bad_rows: List[Any] = []
        if not os.path.getsize(self.path):
            raise DataError("the file is empty; expected rows", source=self.name, line=1)
        handler = _RowHandler(bad_rows, skip=self.on_bad_rows == "skip")
        released = threading.Event()
        weakref.finalize(handler, released.set)
        try:
            yield from self._read(pa_csv.ParseOptions(
                delimiter=self.sep, quote_char='"' if self.quoting else False, invalid_row_handler=handler,
            ), names, bad_rows)
        finally:
            # Arrow's threads drop their copy of the Python handler some microseconds after an error
            # or an early stop; one that does so while Python shuts down aborts the process
            # ("terminate called without an active exception"). Wait until it is dropped.
            handler = None
            released.wait(RELEASE_SECONDS)

    def _read(self, parse_options: pa_csv.ParseOptions, names: List[str], bad_rows: List[Any]) -> Iterator[Chunk]:
        try:
            reader = pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(
                    column_names=names, skip_rows=self.skip_lines + int(self.header), block_size=self.block_bytes,
                    encoding=self.encoding,
                ),
                parse_options=parse_options,
                convert_options=pa_csv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True, null_values=[""],
                    quoted_strings_can_be_null=True,
                ),
            )
        except pa.ArrowInvalid as exc:
            raise self._parse_error(exc, bad_rows, len(names)) from None
        finally:
            del parse_options
        row = 0
        first_line = self.skip_lines + int(self.header) + 1
        pending: List[pa.RecordBatch] = []
        pending_rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                batch = None
            except pa.ArrowInvalid as exc:
                raise self._parse_error(exc, bad_rows, len(names)) from None
            if batch is not None and batch.num_rows:
                pending.append(batch)
                pending_rows += batch.num_rows
            while pending and (batch is None or pending_rows >= self.chunk_rows):   # chunks of chunk_rows rows
                merged = pending[0] if len(pending) == 1 else pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                head, rest = merged.slice(0, self.chunk_rows), merged.slice(self.chunk_rows)
                # Once a line was skipped, later line numbers are unknown: point at rows instead.
                yield Chunk(head, row, None if bad_rows else first_line + row)
                row += head.num_rows
                pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
            if batch is None:
                break
        self.skipped = len(bad_rows)
        if row == 0 and self.skipped == 0:
            raise DataError("the file has no data rows", source=self.name)

    def _parse_error(self, exc: Exception, bad_rows: List[Any], expected: int) -> DataError:
        if bad_rows and self.on_bad_rows == "error":
            return self._ragged_error(bad_rows[0], expected)
        if "Empty CSV file" in str(exc):
            return DataError("the file is empty; expected rows", source=self.name, line=1)
        if "invalid UTF8" in str(exc):
            return self._encoding_error()
        return DataError(f"cannot parse: {exc}", source=self.name)

    def _ragged_error(self, bad: Any, expected: int) -> DataError:
        line = bad.number if bad.number is not None else self._find_line(bad.text)
        return DataError(
            f"expected {expected} fields separated by {self.sep!r}, got {bad.actual_columns}: {bad.text[:200]!r}",
            source=self.name, line=line,
        )

    def _encoding_error(self) -> DataError:
        """The first line that is not valid in the file's encoding, named."""
        with pa.input_stream(self.path, compression="detect") as stream:
            for number, raw in enumerate(io.BufferedReader(stream), 1):
                try:
                    raw.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    byte = raw[exc.start:exc.start + 1].hex()
                    return DataError(f"not valid {self.encoding} text (byte 0x{byte} at character {exc.start + 1}); "
                                     "give the file's encoding, e.g. --encoding latin-1 or cp1252 "
                                     "(read option encoding)", source=self.name, line=number)
        return DataError(f"not valid {self.encoding} text; give the file's encoding (--encoding)", source=self.name)

    def _find_line(self, text: str) -> Optional[int]:
        with pa.input_stream(self.path, compression="detect") as stream:
            for number, line in enumerate(io.TextIOWrapper(stream, encoding=self._text_encoding, errors="replace"), 1):
                if line.rstrip("\r\n") == text.rstrip("\r\n"):
                    return number
        return None
