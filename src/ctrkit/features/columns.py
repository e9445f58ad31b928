"""Columnar operations on Arrow arrays: parsing, counting, vocabulary lookup, sequence padding.

No Python loop runs per row here except on the error path, which searches for the first bad value
so that the error can name it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def as_strings(arr: pa.Array) -> pa.Array:
    """The column as Arrow strings (ints, bools, dictionaries, large strings cast)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type != pa.string():
        arr = pc.cast(arr, pa.string())
    return arr


def present(arr: pa.Array, missing_tokens: Sequence[str]) -> pa.Array:
    """Boolean mask (no nulls): True where the value is neither null, an empty string (as a CSV
    reader sees it) nor a missing token."""
    mask = pc.is_valid(arr)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        mask = pc.and_(mask, pc.fill_null(pc.not_equal(arr, ""), False))
        if missing_tokens:
            is_missing = pc.fill_null(pc.is_in(arr, value_set=pa.array(list(missing_tokens))), False)
            mask = pc.and_(mask, pc.invert(is_missing))
    return mask


def dictionary_codes(arr: pa.Array, missing_tokens: Sequence[str]) -> Tuple[np.ndarray, pa.Array]:
    """Dictionary-encode a string array: int32 codes into a dictionary of its distinct values, one
    hash pass over the rows. Code -1 marks a missing value (null, empty or a missing token)."""
    encoded = pc.dictionary_encode(arr)
    dictionary = encoded.dictionary
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    absent = ~present(dictionary, missing_tokens).to_numpy(zero_copy_only=False)
    if absent.any():
        recode = np.where(absent, np.int32(-1), np.arange(len(dictionary), dtype=np.int32))
        codes = np.append(recode, np.int32(-1))[codes]
    return codes, dictionary


def count_codes(codes: np.ndarray, size: int) -> np.ndarray:
    """Occurrences of each dictionary entry ``0..size-1`` among ``codes`` (missing, -1, not counted)."""
    return np.bincount(codes + 1, minlength=size + 1)[1:]


def ordered_vocabulary(counts: pa.Table, min_count: int) -> List[str]:
    """Tokens seen at least ``min_count`` times, most frequent first (ties by token)."""
    kept = counts.filter(pc.greater_equal(counts["count"], min_count))
    order = pc.sort_indices(kept, sort_keys=[("count", "descending"), ("token", "ascending")])
    return kept["token"].take(order).to_pylist()


def ids_from_codes(codes: np.ndarray, positions: np.ndarray, offset: int) -> np.ndarray:
    """Ids in the fused table for dictionary ``codes``, given each entry's position in the vocabulary
    (-1: not in it): ``offset`` for out-of-vocabulary tokens, ``offset + 1`` for missing values
    (code -1), ``offset + 2 + i`` for the vocabulary's i-th token."""
    ids = np.where(positions >= 0, positions + (offset + 2), offset).astype(np.int32)
    return np.append(ids, np.int32(offset + 1))[codes]


def vocabulary_positions(tokens: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """int32 position of each token in ``vocabulary``, -1 where it is not there."""
    index = pc.index_in(tokens, value_set=vocabulary)
    return pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def parse_numbers(arr: pa.Array, ok: pa.Array, missing: Sequence[str] = ()
                  ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """float64 values (NaN where ``ok`` is False) and, if some present values are not finite
    numbers, a boolean mask of those bad rows (else None). Text values that read as one of
    ``missing`` once surrounding blanks are stripped (``' NA '``, ``'null'``) are missing, not bad;
    they are looked for only when a value does not parse, so clean columns pay nothing."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.if_else(ok, arr, pa.scalar(None, arr.type))
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        strings = as_strings(arr)
        try:
            values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if not missing:
                return _parse_slowly(strings)
            return parse_numbers(*_without_missing(strings, missing))   # no ``missing``: no second search
    values = np.asarray(values, dtype=np.float64)
    present_mask = ok.to_numpy(zero_copy_only=False)
    bad = present_mask & ~np.isfinite(values)
    if bad.any() and missing and not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        strings, still = _without_missing(as_strings(arr), missing)
        bad &= still.to_numpy(zero_copy_only=False)
    return values, (bad if bad.any() else None)


def _without_missing(strings: pa.Array, missing: Sequence[str]) -> Tuple[pa.Array, pa.Array]:
    """The values with blanks stripped and ``missing`` spellings made null, and the mask of the rest."""
    trimmed = pc.utf8_trim_whitespace(strings)
    keep = pc.and_(pc.is_valid(trimmed), pc.invert(pc.fill_null(pc.is_in(trimmed, value_set=pa.array(list(missing),
                                                                                                      pa.string())),
                                                                 False)))
    keep = pc.fill_null(keep, False)
    return pc.if_else(keep, trimmed, pa.scalar(None, pa.string())), keep


def _parse_slowly(strings: pa.Array) -> Tuple[np.ndarray, np.ndarray]:
    values = np.full(len(strings), np.nan)
    bad = np.zeros(len(strings), dtype=bool)
    for i, text in enumerate(strings.to_pylist()):
        if text is None:
            continue
        try:
            values[i] = float(text)
        except ValueError:
            bad[i] = True
        else:
            bad[i] = not np.isfinite(values[i])
    return values, bad


def is_list(arr: pa.Array) -> bool:
    """Whether the column holds lists (a sequence field's natural form in Parquet, pandas, polars)."""
    return pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)


def split_sequences(arr: pa.Array, separator: str, missing_tokens: Sequence[str]) -> Tuple[pa.Array, np.ndarray]:
    """Tokens of every row, flattened (empty and missing tokens dropped), and the row of each token:
    text split at ``separator``, or the items of a list column (as strings)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if is_list(arr):
        rows = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False).astype(np.int64)
        tokens = pc.fill_null(as_strings(pc.list_flatten(arr)), "")
    else:
        lists = pc.split_pattern(pc.fill_null(as_strings(arr), ""), separator)
        lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
        rows = np.repeat(np.arange(len(arr), dtype=np.int64), lengths)
        tokens = pc.list_flatten(lists)
    keep = pc.not_equal(tokens, "")
    if missing_tokens:
        keep = pc.and_(keep, present(tokens, missing_tokens))
    keep_np = keep.to_numpy(zero_copy_only=False)
    return tokens.filter(keep), rows[keep_np]


def pad_sequences(ids: np.ndarray, rows: np.ndarray, n_rows: int, max_len: int,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """[n_rows, max_len] int32, each row's ids left-aligned and zero-padded; longer rows keep
    their last ``max_len`` ids (the most recent, in behaviour logs). ``out``: zeros to write into
    (a block's slice: no padded copy of the chunk is made)."""
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(rows)) - starts[rows]
    position -= np.maximum(counts[rows] - max_len, 0)
    keep = position >= 0
    if out is None:
        out = np.zeros((n_rows, max_len), dtype=np.int32)
    out[rows[keep], position[keep]] = ids[keep]
    return out


def sequence_lengths(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Number of tokens per row."""
    return np.bincount(rows, minlength=n_rows)
