"""Errors that say where the bad input is and what was expected."""
from __future__ import annotations

from typing import Optional


class CTRKitError(Exception):
    """Base class of every error ctrkit raises on purpose."""


class SchemaError(CTRKitError, ValueError):
    """A schema or field spec is inconsistent (unknown option, duplicate name, wrong type)."""


class DataError(CTRKitError, ValueError):
    """Bad input data.

    The message names the source (file or DataFrame), the line or row, the column, and what was
    expected, e.g. ``train.csv, line 17, column 'age': expected a number, got 'abc'``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: Optional[str] = None,
        line: Optional[int] = None,
        row: Optional[int] = None,
        column: Optional[str] = None,
    ) -> None:
        self.source, self.line, self.row, self.column = source, line, row, column
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        elif row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
