"""Reading raw inputs, storing encoded splits, and batching them."""
from .batch import Batch
from .loader import BatchLoader
from .readers import CsvSource, LibsvmSource, ParquetSource, Source, TableSource, open_source
from .store import EncodedArrays, read_split, write_split

__all__ = ["Batch", "BatchLoader", "CsvSource", "LibsvmSource", "ParquetSource", "Source", "TableSource",
           "open_source", "EncodedArrays", "read_split", "write_split"]
