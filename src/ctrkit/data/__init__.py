"""Reading raw inputs, storing encoded splits, and batching them.

``Batch`` and ``BatchLoader`` need torch and are imported on first use, so that data preparation
starts without loading torch.
"""
from typing import Any

from .readers import CsvSource, LibsvmSource, MappedSource, ParquetSource, Source, TableSource, open_source
from .store import EncodedArrays, read_split, write_split

__all__ = ["Batch", "BatchLoader", "CsvSource", "LibsvmSource", "MappedSource", "ParquetSource", "Source",
           "TableSource", "open_source", "EncodedArrays", "read_split", "write_split"]


def __getattr__(name: str) -> Any:
    if name == "Batch":
        from .batch import Batch
        return Batch
    if name == "BatchLoader":
        from .loader import BatchLoader
        return BatchLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
