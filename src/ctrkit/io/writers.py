"""Writing tables chunk by chunk: CSV (quoted only where a value needs it), Parquet, JSON lines."""
from __future__ import annotations

import json
import math
import os
from typing import IO, List, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CTRKitError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl",
           ".ndjson": "jsonl"}


def output_format(path: str) -> str:
    """``csv``, ``parquet`` or ``jsonl`` by the extension of ``path``; an error for any other."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CTRKitError(f"{path}: cannot tell the output format from {ext or 'no extension'!r}; name the file "
                          f"{', '.join(FORMATS)}")
    return FORMATS[ext]


class TableWriter:
    """Append Arrow tables to ``path`` in the format its extension names (``FORMATS``).

    CSV values are written as they read (text columns unquoted unless they hold a separator, a
    quote or a line break; numbers as numbers); ``.json``/``.jsonl`` get one JSON object per row.
    """

    def __init__(self, path: str) -> None:
        self.path, self.format = path, output_format(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._parquet: Optional[pq.ParquetWriter] = None
        self._text: Optional[IO[str]] = None

    def write(self, table: pa.Table) -> None:
        if self.format == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
            return
        if self._text is None:
            self._text = open(self.path, "w", encoding="utf-8", newline="")
            if self.format == "csv":
                self._text.write(",".join(_csv_field(n) for n in table.column_names) + "\n")
        if self.format == "csv":
            self._text.write(_csv_lines(table))
        else:
            self._text.writelines(json.dumps(_finite(row), ensure_ascii=False) + "\n" for row in table.to_pylist())

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.close()


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def _csv_lines(table: pa.Table) -> str:
    if not table.num_rows:
        return ""
    columns: List[pa.Array] = []
    for col in table.columns:
        col = col.combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):   # a sequence: items joined by '|'
            col = pc.binary_join(pc.cast(col, pa.list_(pa.string())), "|")
        text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
        needs = pc.fill_null(pc.match_substring_regex(text, '[,"\r\n]'), False)
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        columns.append(pc.fill_null(pc.if_else(needs, quoted, text), ""))
    lines = pc.binary_join_element_wise(*columns, ",")
    return "\n".join(lines.to_pylist()) + "\n"


def _finite(row: dict) -> dict:
    """NaN and infinities become null (JSON has no such numbers)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
