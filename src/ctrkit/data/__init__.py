"""Batches of encoded arrays as torch tensors: ``Batch`` and ``BatchLoader``."""
from .batch import Batch
from .loader import BatchLoader

__all__ = ["Batch", "BatchLoader"]
