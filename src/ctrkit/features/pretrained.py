"""Pretrained vectors of a field, aligned with its vocabulary."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ..errors import DataError
from .state import TableState


def vector_width(path: str) -> int:
    """The width d of a .npy file of pretrained vectors [tokens, d] (read from its header)."""
    shape = np.load(path, mmap_mode="r").shape
    if len(shape) != 2:
        raise DataError(f"expected a 2-D array [tokens, dim], got shape {shape}", source=path)
    return int(shape[1])


def read_keys(path: str) -> List[str]:
    """Tokens for pretrained vectors: a .npy array or a text file with one token per line."""
    if path.endswith(".npy"):
        return [str(k) for k in np.load(path, allow_pickle=False).tolist()]
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n\r") for line in fh]


def aligned_vectors(path: str, keys_path: str, state: TableState) -> Tuple[np.ndarray, np.ndarray]:
    """A float32 matrix [size, d] whose row ``i`` is the vector of the field's id ``offset + i``
    (zeros where none is given: OOV, missing, unknown tokens) and a boolean mask of the rows that
    came from the file. Without ``keys_path`` the vectors' keys are their row numbers."""
    vectors = np.load(path)
    if vectors.ndim != 2:
        raise DataError(f"expected a 2-D array [tokens, dim], got shape {vectors.shape}", source=path)
    keys = read_keys(keys_path) if keys_path else [str(i) for i in range(len(vectors))]
    if len(keys) != len(vectors):
        raise DataError(f"{len(keys)} keys for {len(vectors)} vectors", source=keys_path)
    out = np.zeros((state.size, vectors.shape[1]), dtype=np.float32)
    found = np.zeros(state.size, dtype=bool)
    position = {tok: 2 + i for i, tok in enumerate(state.vocab)}
    rows = [(position[k], i) for i, k in enumerate(keys) if k in position]
    if rows:
        dst, src = map(np.asarray, zip(*rows))
        out[dst] = vectors[src]
        found[dst] = True
    return out, found
