"""libsvm / libFM lines."""
from __future__ import annotations

import io
from typing import Iterator, List, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import DataError
from .base import Chunk, Source
from .text import CsvSource


class LibsvmSource(Source):
    """libsvm / libFM lines ``label idx:val idx:val ...`` with one feature per field.

    Field ``k`` (named ``field_names[k]``, default ``f1..fn``) holds the index of the k-th pair as
    a categorical token. Values other than 1 raise an error unless ``values=True``, which adds a
    numeric column ``<field>_value`` per field. Every line must have the same number of pairs.
    """

    def __init__(self, path: str, field_names: Optional[Sequence[str]] = None, values: bool = False,
                 label: str = "label", on_bad_rows: str = "error") -> None:
        self.path = self.name = str(path)
        self.values, self.label = values, label
        self._field_names = list(field_names) if field_names is not None else None
        self.on_bad_rows = on_bad_rows
        self._pairs: Optional[int] = None

    def _pair_count(self) -> int:
        if self._pairs is None:
            with pa.input_stream(self.path, compression="detect") as stream:
                first = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").readline().split()
            if not first:
                raise DataError("the file is empty; expected lines 'label idx:val ...'", source=self.name, line=1)
            self._pairs = len(first) - 1
            if self._field_names is not None and len(self._field_names) != self._pairs:
                raise DataError(
                    f"expected {len(self._field_names)} idx:val pairs (one per field name), got {self._pairs}",
                    source=self.name, line=1,
                )
        return self._pairs

    @property
    def field_names(self) -> List[str]:
        return self._field_names or [f"f{i + 1}" for i in range(self._pair_count())]

    @property
    def columns(self) -> List[str]:
        names = self.field_names
        return [self.label] + names + ([f"{n}_value" for n in names] if self.values else [])

    def chunks(self) -> Iterator[Chunk]:
        names = self.field_names
        raw = CsvSource(self.path, sep=" ", header=False, column_names=[self.label] + names,
                        on_bad_rows=self.on_bad_rows, quoting=False)
        for chunk in raw.chunks():
            yield Chunk(self._split_pairs(chunk, names), chunk.first_row, chunk.first_line)
        self.skipped = raw.skipped

    def _split_pairs(self, chunk: Chunk, names: List[str]) -> pa.RecordBatch:
        batch = chunk.batch
        arrays, out_names = [batch.column(self.label)], [self.label]
        value_arrays = []
        for name in names:
            parts = pc.split_pattern(batch.column(name), ":", max_splits=1)
            if pc.any(pc.not_equal(pc.list_value_length(parts), 2)).as_py():
                bad = pc.index(pc.not_equal(pc.list_value_length(parts), 2), True).as_py()
                raise DataError(f"expected idx:val, got {batch.column(name)[bad].as_py()!r}",
                                source=self.name, column=name, **chunk.locate(bad))
            arrays.append(pc.list_element(parts, 0))
            out_names.append(name)
            value = pc.list_element(parts, 1)
            if self.values:
                value_arrays.append(value)
            else:
                not_one = pc.invert(pc.is_in(value, value_set=pa.array(["1", "1.0", "1.", "1e0"])))
                if pc.any(not_one).as_py():
                    bad = pc.index(not_one, True).as_py()
                    raise DataError(
                        f"feature value {value[bad].as_py()!r} is not 1; pass values=True to keep feature values",
                        source=self.name, column=name, **chunk.locate(bad),
                    )
        if self.values:
            arrays += value_arrays
            out_names += [f"{n}_value" for n in names]
        return pa.RecordBatch.from_arrays(arrays, names=out_names)
