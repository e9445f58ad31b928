"""Request rows checked against the run's schema: the values its processor reads, by column.

A pydantic model per run (``row_model``) types each field as training read it: numeric fields take
finite numbers, categorical ones a string or an integer, sequence ones a list of them or a string
joined by the field's separator; an absent or null field is missing, as in training. The same
model gives the OpenAPI schema of ``POST /predict``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Type, Union

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError, create_model

from ..features.spec import Schema

Category = Union[StrictStr, StrictInt]


class RequestError(Exception):
    """A request the service refuses: the HTTP status and a JSON-ready body naming the problem."""

    def __init__(self, status: int, message: str, detail: Optional[List[Dict[str, Any]]] = None) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": message, **({"detail": detail} if detail else {})}


def row_model(schema: Schema, ignore_unknown: bool = False) -> Type[BaseModel]:
    """The pydantic model of one row: a field per schema column (by its name in the data)."""
    fields: Dict[str, Any] = {}
    for i, f in enumerate(schema.fields):
        if f.type == "numeric":
            kind: Any = Optional[float]
            extra = {"allow_inf_nan": False}
        elif f.type == "categorical":
            kind, extra = Optional[Category], {}
        else:
            kind, extra = Optional[Union[List[Category], StrictStr]], {}
        fields[f"f{i}"] = (kind, Field(None, alias=f.column, description=f"{f.type} field {f.name!r}", **extra))
    config = ConfigDict(extra="ignore" if ignore_unknown else "forbid", populate_by_name=False)
    return create_model("Row", __config__=config, **fields)


def request_model(row: Type[BaseModel]) -> Type[BaseModel]:
    """The JSON body of ``POST /predict``: ``rows`` and ``explain``."""
    return create_model("PredictRequest", rows=(List[row], Field(..., description="rows of raw field values")),
                        explain=(bool, Field(False, description="top field pairs of each row (AFM, AutoInt(+), FiGNN, DCN-V2)")))


class RowChecker:
    """Checks rows against a run's schema and builds the table its processor reads."""

    def __init__(self, schema: Schema, ignore_unknown: bool = False) -> None:
        self.schema = schema
        self.model = row_model(schema, ignore_unknown)
        self.request = request_model(self.model)
        self._rows = TypeAdapter(List[self.model])
        self._columns = list(dict.fromkeys(f.column for f in schema.fields))
        self._types = {f.column: f.type for f in schema.fields}
        self._separators = {f.column: f.separator for f in schema.fields if f.type == "sequence"}

    def rows(self, rows: Any) -> List[Dict[str, Any]]:
        """The rows as ``{column: value}`` (numbers, text, lists of text; None = missing), or a
        ``RequestError`` (422) naming each bad row and field."""
        if not isinstance(rows, list):
            raise RequestError(422, f"'rows' must be a list of objects, got {type(rows).__name__}")
        try:
            checked = self._rows.validate_python(rows)
        except ValidationError as exc:
            detail = [{"row": e["loc"][0] if e["loc"] else None, "field": e["loc"][1] if len(e["loc"]) > 1 else None,
                       "problem": e["msg"], "value": _short(e.get("input"))} for e in exc.errors()[:20]]
            first = detail[0]
            where = f"rows[{first['row']}]" + (f".{first['field']}" if first["field"] is not None else "")
            raise RequestError(422, f"{where}: {first['problem']} ({exc.error_count()} problem(s) in all)",
                               detail) from None
        columns = [(f"f{i}", f.column) for i, f in enumerate(self.schema.fields)]
        return [{column: getattr(r, name) for name, column in columns} for r in checked]

    def arrow(self, table: pa.Table) -> pa.Table:
        """An Arrow IPC request's table checked column by column (no per-row Python): unknown
        columns refused (or dropped with ``ignore_unknown``), numeric columns numeric and finite,
        categorical ones text or integers, sequence ones lists or text; absent columns are missing."""
        names = table.column_names
        if len(set(names)) != len(names):
            raise RequestError(422, f"duplicate column(s) {sorted({n for n in names if names.count(n) > 1})}")
        known = set(self._columns)
        unknown = sorted(set(names) - known)
        if unknown and self.model.model_config.get("extra") == "forbid":
            raise RequestError(422, f"unknown column(s) {unknown}; the run's fields: {', '.join(self._columns)}")
        columns = {}
        for c in self._columns:
            if c not in table.column_names:
                columns[c] = self._array(c, [None] * table.num_rows)
                continue
            arr = table.column(c).combine_chunks()
            kind, t = self._types[c], arr.type
            if kind == "numeric":
                if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)):
                    raise RequestError(422, f"column {c!r}: expected numbers, got {t}")
                arr = pc.cast(arr, pa.float64())
                if pc.any(pc.is_inf(arr)).as_py() or pc.any(pc.is_nan(arr)).as_py():
                    raise RequestError(422, f"column {c!r}: NaN or infinity (send null for a missing value)")
            elif kind == "categorical":
                if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                        or pa.types.is_dictionary(t) or pa.types.is_null(t)):
                    raise RequestError(422, f"column {c!r}: expected text or integers, got {t}")
            elif not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_string(t) or pa.types.is_null(t)):
                raise RequestError(422, f"column {c!r}: expected lists or text, got {t}")
            columns[c] = arr
        return pa.table(columns)

    def table(self, rows: List[Dict[str, Any]]) -> pa.Table:
        """Checked rows as the Arrow table the processor's columnar path reads (large requests)."""
        return pa.table({c: self._array(c, [r.get(c) for r in rows]) for c in self._columns})

    def _array(self, column: str, values: List[Any]) -> pa.Array:
        kind = self._types[column]
        if kind == "numeric":
            return pa.array(values, pa.float64())
        if kind == "categorical":
            return pa.array([None if v is None else str(v) for v in values], pa.string())
        sep = self._separators[column]
        return pa.array([None if v is None else v.split(sep) if isinstance(v, str) else [str(t) for t in v]
                         for v in values], pa.list_(pa.string()))


def _short(value: Any) -> Any:
    """The value as a JSON body can hold it: short plain values as they are, others as text."""
    text = repr(value)
    plain = isinstance(value, (str, int, bool, type(None))) or (isinstance(value, float) and math.isfinite(value))
    return value if plain and len(text) <= 80 else text[:80]
