"""Raw rows in and encoded arrays on disk, without torch: readers of every source kind, the split
store (``.npy`` files + manifest, memory-mapped), and the thread and prefetch helpers they use."""
from .readers import CsvSource, LibsvmSource, MappedSource, ParquetSource, Source, TableSource, open_source
from .store import EncodedArrays, read_split, write_split

__all__ = ["CsvSource", "EncodedArrays", "LibsvmSource", "MappedSource", "ParquetSource", "Source", "TableSource",
           "open_source", "read_split", "write_split"]
