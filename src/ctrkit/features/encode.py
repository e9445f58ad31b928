"""Encoding parsed chunks into arrays: dictionary codes per table-backed field, then ids, scaled
numbers and padded sequences, written into blocks of ``cat`` / ``num`` / ``seq`` / ``label``.

Ids follow the processor's layout (``ctrkit.features.processor``): ``offset`` = out-of-vocabulary,
``offset + 1`` = missing, ``offset + 2 + i`` = the i-th token or bin."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..io.store import EncodedArrays
from ..io.threads import map_threads
from . import columns as C
from .parse import ParsedChunk, signed_log
from .spec import FeatureSpec, Schema
from .state import FieldState, NumericState

PAD, OOV, MISSING = 0, 0, 1  # PAD is a table row; OOV and MISSING are offsets within a field block


@dataclass
class FieldCodes:
    """A table-backed field of a chunk: dictionary codes (-1: missing) per row, or per token of a
    sequence field with ``rows`` giving each token's row."""

    codes: np.ndarray
    dictionary: pa.Array          # the distinct strings
    rows: Optional[np.ndarray] = None


@dataclass
class CodedChunk:
    """A chunk ready to encode: row count, parsed numeric fields, label, codes of the other fields."""

    n: int
    numeric: Dict[str, np.ndarray]
    label: Optional[np.ndarray]
    fields: Dict[str, FieldCodes]
    skipped: Counter


def table_fields(schema: Schema) -> List[FeatureSpec]:
    """Fields with a vocabulary: categorical and sequence."""
    return [f for f in schema.fields if f.type != "numeric"]


def code_chunk(schema: Schema, parsed: ParsedChunk) -> CodedChunk:
    """A parsed chunk with its table-backed fields dictionary-encoded (one hash pass per column)."""
    def code(f: FeatureSpec) -> FieldCodes:
        column = parsed.batch.column(f.column)
        if f.type == "categorical":
            return FieldCodes(*C.dictionary_codes(C.as_strings(column), f.missing))
        tokens, rows = C.split_sequences(column, f.separator, f.missing)
        return FieldCodes(*C.dictionary_codes(tokens, ()), rows=rows)

    fields = table_fields(schema)
    return CodedChunk(parsed.batch.num_rows, parsed.numeric, parsed.label,
                      dict(zip([f.name for f in fields], map_threads(code, fields, parsed.batch.num_rows))),
                      parsed.skipped)


def empty_block(schema: Schema, state: Dict[str, FieldState], n: int, with_label: bool) -> Dict[str, np.ndarray]:
    """Arrays for ``n`` encoded rows: cat int32 [n, n_cat], num float32 [n, n_num], seq int32
    [n, n_seq, L] (zero-padded) and, ``with_label``, label float32 [n]."""
    seq_fields = schema.fields_of("sequence")
    max_len = max([state[f.name].max_len for f in seq_fields], default=0)
    block = {"cat": np.empty((n, len(schema.fields_of("categorical"))), dtype=np.int32),
             "num": np.empty((n, len(schema.fields_of("numeric"))), dtype=np.float32),
             "seq": np.zeros((n, len(seq_fields), max_len), dtype=np.int32)}
    if with_label:
        block["label"] = np.empty(n, dtype=np.float32)
    return block


def encode_into(schema: Schema, state: Dict[str, FieldState], coded: CodedChunk, positions: Dict[str, np.ndarray],
                block: Dict[str, np.ndarray]) -> None:
    """Write the chunk's rows into ``block`` (see ``empty_block``); ``positions[name]`` gives each
    dictionary entry of a table-backed field its position in the vocabulary (-1: out of it)."""
    def cat_column(f: FeatureSpec) -> np.ndarray:
        if f.type == "numeric":
            return bucketize(state[f.name], coded.numeric[f.name])
        return C.ids_from_codes(coded.fields[f.name].codes, positions[f.name], state[f.name].offset)

    def seq_column(item: Tuple[int, FeatureSpec]) -> None:   # padded in place, in the block
        j, f = item
        st, fc = state[f.name], coded.fields[f.name]
        ids = C.ids_from_codes(fc.codes, positions[f.name], st.offset)
        C.pad_sequences(ids, fc.rows, coded.n, st.max_len, out=block["seq"][:, j, : st.max_len])

    for j, column in enumerate(map_threads(cat_column, schema.fields_of("categorical"), coded.n)):
        block["cat"][:, j] = column
    for j, f in enumerate(schema.fields_of("numeric")):
        block["num"][:, j] = scale(f, state[f.name], coded.numeric[f.name])
    map_threads(seq_column, enumerate(schema.fields_of("sequence")), coded.n)
    if "label" in block:
        block["label"][:] = coded.label


def scale(f: FeatureSpec, st: NumericState, values: np.ndarray) -> np.ndarray:
    """Missing (NaN) → ``fill`` (given in raw units), then the field's scaler."""
    fill = signed_log(np.float64(f.fill)) if f.log else f.fill
    values = np.where(np.isnan(values), fill, values)
    if f.scaler == "standard":
        values = (values - st.mean) / (st.std or 1.0)
    elif f.scaler == "minmax":
        span = st.max - st.min
        values = (values - st.min) / (span or 1.0)
    return values.astype(np.float32)


def bucketize(st: NumericState, values: np.ndarray) -> np.ndarray:
    """Ids of the bins of ``values`` (missing → ``offset + MISSING``)."""
    bins = np.searchsorted(np.asarray(st.edges), values, side="right").astype(np.int32)
    ids = bins + np.int32(st.offset + 2)
    ids[np.isnan(values)] = st.offset + MISSING
    return ids


def merged_blocks(blocks: List[Dict[str, np.ndarray]], info: Dict[str, Any]) -> EncodedArrays:
    """Encoded chunks joined into one split in memory (``info``: its source and skip counts)."""
    if not blocks:
        raise DataError("no rows to encode", source=info["source"])
    merged = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    return EncodedArrays(merged["cat"], merged["num"], merged["seq"], merged.get("label"), info)
