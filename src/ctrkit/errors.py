"""Errors that say where the bad input is and what was expected."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional


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


@contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """Turn any failure to read the file ``path`` (truncated, damaged, not what it should be) into
    a ``DataError`` that names it and says what to do; ctrkit's own errors pass through."""
    try:
        yield
    except CTRKitError:
        raise
    except FileNotFoundError:
        raise DataError(f"{what} is missing", source=path) from None
    except Exception as exc:  # noqa: BLE001 - every reader's own error type (json, yaml, safetensors, pickle, numpy)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"cannot read the {what}: it is truncated or damaged ({detail}); restore it or train the "
                        "run again", source=path) from None
