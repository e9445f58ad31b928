"""Encoding a few rows given as Python mappings, without Arrow: the path of a scoring service's small
requests. The ids and values equal ``Processor.transform``'s on the same rows (tests compare them);
for thousands of rows the columnar path is faster."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from ..errors import DataError
from ..io.store import EncodedArrays
from .encode import MISSING, bucketize, scale
from .parse import signed_log
from .spec import FeatureSpec
from .state import TableState


class RowEncoder:
    """Encodes rows (``{column: value}``; an absent or None value is missing) like its processor.

    Built once per processor (``Processor.transform_rows``): a dict per vocabulary
    (``positions[owner]``) maps a token to its position, so a row costs a lookup per field.
    """

    def __init__(self, processor: Any) -> None:
        self.schema, self.state = processor.schema, processor.state
        self.positions: Dict[str, Dict[str, int]] = {}
        for f in self.schema.fields:
            if f.has_vocabulary:
                owner = f.share_embedding or f.name
                if owner not in self.positions:
                    vocab = self.state[owner].vocab or []
                    self.positions[owner] = {token: i for i, token in enumerate(vocab)}
        self._missing = set(self.schema.missing_values)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> EncodedArrays:
        n = len(rows)
        cat_fields = self.schema.fields_of("categorical")
        num_fields = self.schema.fields_of("numeric")
        seq_fields = self.schema.fields_of("sequence")
        max_len = max([self.state[f.name].max_len for f in seq_fields], default=0)
        cat = np.empty((n, len(cat_fields)), dtype=np.int32)
        num = np.empty((n, len(num_fields)), dtype=np.float32)
        seq = np.zeros((n, len(seq_fields), max_len), dtype=np.int32)
        for j, f in enumerate(cat_fields):
            if f.type == "numeric":       # bucketed
                cat[:, j] = bucketize(self.state[f.name], self._numbers(f, rows))
            else:
                cat[:, j] = [self._id(f, self._token(row.get(f.column), f)) for row in rows]
        for j, f in enumerate(num_fields):
            num[:, j] = scale(f, self.state[f.name], self._numbers(f, rows))
        for j, f in enumerate(seq_fields):
            keep = self.state[f.name].max_len
            for i, row in enumerate(rows):
                ids = [self._id(f, t) for t in self._tokens(row.get(f.column), f)][-keep:] if keep else []
                seq[i, j, :len(ids)] = ids
        return EncodedArrays(cat, num, seq, None, {"source": "<rows>", "skipped": 0, "skipped_by": {}})

    def _id(self, f: FeatureSpec, token: Any) -> int:
        st: TableState = self.state[f.name]
        if token is None:
            return st.offset + MISSING
        position = self.positions[f.share_embedding or f.name].get(token)
        return st.offset if position is None else st.offset + 2 + position

    @staticmethod
    def _token(value: Any, f: FeatureSpec) -> Any:
        """The value as the text a file would hold, or None where it is missing."""
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        return None if text == "" or text in f.missing else text

    @staticmethod
    def _tokens(value: Any, f: FeatureSpec) -> List[str]:
        if value is None:
            return []
        items = value.split(f.separator) if isinstance(value, str) else [str(t) for t in value if t is not None]
        return [t for t in items if t != "" and t not in f.missing]

    def _numbers(self, f: FeatureSpec, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        values = np.empty(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            v = row.get(f.column)
            if isinstance(v, str):
                text = v.strip()
                v = None if text == "" or text in self._missing or text in f.missing else _number(text, f, i)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                values[i] = np.nan
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise DataError(f"expected a number (field {f.name!r}), got {v!r}", source="<rows>", row=i,
                                column=f.column)
            else:
                values[i] = v
        return signed_log(values) if f.log else values


def _number(text: str, f: FeatureSpec, row: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"expected a number (field {f.name!r}), got {text!r}", source="<rows>", row=row,
                        column=f.column) from None
