"""The processor: fit vocabularies and scalers on training rows, encode any split, save as JSON.

Layout of the fused embedding table shared by every categorical and sequence field:
row 0 is the padding row; each field that owns a vocabulary gets a block starting at its
``offset``: ``offset`` = out-of-vocabulary, ``offset + 1`` = missing, ``offset + 2 + i`` = the
i-th token (most frequent first). Fields with ``share_embedding`` use their owner's block.
Bucketed numeric fields get a block of ``2 + bins`` ids laid out the same way.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.prefetch import prefetched
from ..io.readers import Chunk, Source, open_source
from ..io.store import EncodedArrays, write_split
from ..io.threads import map_threads
from ..errors import DataError, SchemaError
from . import columns as C
from .counts import TokenCounts
from .feature_map import FeatureMap
from .numeric_stats import Moments, RowSample, bin_edges
from .spec import FeatureSpec, Schema

FORMAT = "ctrkit.processor/1"
PAD, OOV, MISSING = 0, 0, 1  # PAD is a table row; OOV and MISSING are offsets within a field block
_COMPACT_EVERY = 8


class Processor:
    """Turns rows into model-ready arrays (see the module docstring for the id layout).

    >>> proc = Processor(schema).fit("train.csv")
    >>> valid = proc.transform("valid.csv")        # EncodedArrays in memory
    >>> proc.transform_to("test.csv", "out/test")  # streamed to .npy files
    >>> proc.save("out/processor.json"); Processor.load("out/processor.json")
    """

    def __init__(self, schema: Schema, seed: int = 0) -> None:
        self.schema = schema
        self.seed = seed
        self.state: Dict[str, Dict[str, Any]] = {}
        self.vocab_size = 1  # rows in the fused table, padding row included
        self.fit_rows = 0
        self.fit_skipped = 0
        self._vocab_arrays: Dict[str, pa.Array] = {}

    # ------------------------------------------------------------------ fitting
    @property
    def fitted(self) -> bool:
        return bool(self.state)

    def fit(self, data: Any, on_bad_rows: str = "error", **read_options: Any) -> "Processor":
        """Learn vocabularies, scalers, bins and sequence lengths from the training rows."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        self._check_columns(source, require_label=False)
        self._learn(source, on_bad_rows, with_label=False, keep=False)
        return self

    def fit_transform(self, data: Any, on_bad_rows: str = "error", **read_options: Any) -> EncodedArrays:
        """``fit`` on ``data`` and return it encoded, equal to ``fit(data).transform(data)`` but in one
        read: each chunk is parsed and dictionary-encoded once, and its codes become ids when the
        vocabularies are known. The label column is required."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        with_label = self._check_columns(source, require_label=True)
        counts, kept = self._learn(source, on_bad_rows, with_label, keep=True)
        owners = {self._owner(f.name): f for f in self._table_fields()}
        positions = {owner: counts[owner].slot_positions(self._vocabulary(f)) for owner, f in owners.items()}
        out = self._empty_block(self.fit_rows, with_label)
        row = 0
        while kept:
            coded, slots = kept.pop(0)   # frees each chunk's codes once encoded
            self._encode_into(coded, {name: positions[self._owner(name)][slot] for name, slot in slots.items()},
                              {k: v[row: row + coded.n] for k, v in out.items()})
            row += coded.n
        return EncodedArrays(out["cat"], out["num"], out["seq"], out.get("label"),
                             {"source": source.name, "skipped": self.fit_skipped})

    def _learn(self, source: Source, on_bad_rows: str, with_label: bool, keep: bool
               ) -> Tuple[Dict[str, TokenCounts], List[Tuple["_CodedChunk", Dict[str, int]]]]:
        """One pass over ``source`` that fits the state. Returns the token counts per vocabulary and,
        with ``keep``, every chunk's codes with its slot in those counts (else they are compacted)."""
        counts: Dict[str, TokenCounts] = {}
        numeric = [f for f in self.schema.fields if f.type == "numeric"]   # bucketed ones too
        moments = {f.name: Moments() for f in numeric}
        sample = RowSample([f.name for f in numeric if f.buckets and f.bucketing == "quantile"], self.seed)
        max_len: Dict[str, int] = {}
        kept: List[Tuple[_CodedChunk, Dict[str, int]]] = []
        self.fit_rows = self.fit_skipped = 0
        for n_chunk, chunk in enumerate(prefetched(source.chunks())):
            coded = self._code(self._parse(chunk, source, on_bad_rows, with_label))
            self.fit_skipped += coded.skipped
            self.fit_rows += coded.n
            for name, field_moments in moments.items():
                field_moments.update(coded.numeric[name])
            sample.update(coded.numeric)
            slots = {}
            for name, fc in coded.fields.items():
                tally = counts.setdefault(self._owner(name), TokenCounts())
                slots[name] = tally.add(fc.dictionary, C.count_codes(fc.codes, len(fc.dictionary)))
                if fc.rows is not None and len(fc.rows):
                    max_len[name] = max(max_len.get(name, 0), int(C.sequence_lengths(fc.rows, coded.n).max()))
            if keep:
                kept.append((coded, slots))
            elif (n_chunk + 1) % _COMPACT_EVERY == 0:
                for tally in counts.values():
                    tally.compact()
        self.fit_skipped += source.skipped
        if self.fit_rows == 0:
            raise DataError("no rows to fit on", source=source.name)
        self._build_state(counts, moments, sample, max_len)
        return counts, kept

    def _build_state(self, counts: Dict[str, TokenCounts], moments: Dict[str, Moments], sample: RowSample,
                     max_len: Dict[str, int]) -> None:
        state: Dict[str, Dict[str, Any]] = {}
        offset = 1
        for f in self.schema.fields:
            if f.type == "numeric":
                st = moments[f.name].summary()
                if f.buckets:
                    values = sample.values(f.name) if f.name in sample.names else np.empty(0)
                    st["edges"] = bin_edges(moments[f.name], values, f.buckets, f.bucketing)
                    st.update(offset=offset, size=2 + len(st["edges"]) + 1)
                    offset += st["size"]
                state[f.name] = st
            elif not f.share_embedding:
                vocab = C.ordered_vocabulary(counts.get(f.name, TokenCounts()).table(), f.min_count)
                if f.pretrained_keys:
                    known = set(vocab)
                    vocab += [k for k in _read_keys(f.pretrained_keys) if k not in known]
                state[f.name] = {"offset": offset, "size": 2 + len(vocab), "vocab": vocab}
                offset += 2 + len(vocab)
        for f in self.schema.fields:
            if f.share_embedding:
                owner = state[f.share_embedding]
                state[f.name] = {"offset": owner["offset"], "size": owner["size"]}
            if f.type == "sequence":
                state[f.name]["max_len"] = f.max_len or max(1, max_len.get(f.name, 1))
        for f in self.schema.fields:
            if f.pretrained and not f.share_embedding:
                state[f.name]["pretrained_dim"] = _vector_width(f.pretrained)
        self.state, self.vocab_size = state, offset
        self._build_vocab_arrays()

    def _build_vocab_arrays(self) -> None:
        """The vocabularies as Arrow arrays, built once (encoding reads them, from any thread)."""
        self._vocab_arrays = {name: pa.array(st["vocab"], pa.string())
                              for name, st in self.state.items() if "vocab" in st}

    def _owner(self, name: str) -> str:
        """The field whose vocabulary (and block of the table) ``name`` uses."""
        return self.schema[name].share_embedding or name

    def _table_fields(self) -> List[FeatureSpec]:
        """Fields with a vocabulary: categorical and sequence."""
        return [f for f in self.schema.fields if f.type != "numeric"]

    def _vocabulary(self, f: FeatureSpec) -> pa.Array:
        return self._vocab_arrays[self._owner(f.name)]

    # ------------------------------------------------------------------ encoding
    def transform(self, data: Any, on_bad_rows: str = "error", require_label: bool = True,
                  **read_options: Any) -> EncodedArrays:
        """Encode all rows of ``data`` into arrays in memory."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        skipped = [0]
        blocks = [block for _, block in self._encoded(source, on_bad_rows, require_label, False, skipped)]
        return _merged_blocks(blocks, source.name, source.skipped + skipped[0])

    def transform_to(self, data: Any, folder: str, on_bad_rows: str = "error", require_label: bool = True,
                     **read_options: Any) -> int:
        """Encode ``data`` chunk by chunk into a split folder (see ``ctrkit.data.store``); returns rows."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        skipped = [0]
        blocks = (block for _, block in self._encoded(source, on_bad_rows, require_label, False, skipped))
        return write_split(folder, blocks, lambda: {"source": source.name, "fingerprint": self.fingerprint(),
                                                    "skipped": source.skipped + skipped[0]})

    def iter_encoded(self, source: Source, on_bad_rows: str = "error", require_label: bool = True,
                     ignore_label: bool = False) -> Iterator[Tuple[Chunk, Dict[str, np.ndarray]]]:
        """Each chunk of ``source`` with its encoded block (rows align unless rows were skipped);
        ``ignore_label`` leaves any label column unread (prediction)."""
        return self._encoded(source, on_bad_rows, require_label, ignore_label, [0])

    def _encoded(self, source: Source, on_bad_rows: str, require_label: bool, ignore_label: bool,
                 skipped: List[int]) -> Iterator[Tuple[Chunk, Dict[str, np.ndarray]]]:
        """``iter_encoded``, adding the rows it skips to ``skipped[0]``: the count lives with the
        caller, not on the processor, so one processor encodes from many threads at once."""
        if not self.fitted:
            raise RuntimeError("the processor is not fitted: call fit() or load() first")
        with_label = self._check_columns(source, require_label and not ignore_label) and not ignore_label
        for chunk in prefetched(source.chunks()):
            coded = self._code(self._parse(chunk, source, on_bad_rows, with_label))
            skipped[0] += coded.skipped
            if coded.n == 0:
                continue
            positions = {name: C.vocabulary_positions(fc.dictionary, self._vocabulary(self.schema[name]))
                         for name, fc in coded.fields.items()}
            block = self._empty_block(coded.n, coded.label is not None)
            self._encode_into(coded, positions, block)
            yield chunk, block

    def _code(self, parsed: "_ParsedChunk") -> "_CodedChunk":
        """A parsed chunk with its table-backed fields dictionary-encoded (one hash pass per column)."""
        def code(f: FeatureSpec) -> _FieldCodes:
            strings = C.as_strings(parsed.batch.column(f.column))
            if f.type == "categorical":
                return _FieldCodes(*C.dictionary_codes(strings, f.missing))
            tokens, rows = C.split_sequences(strings, f.separator, f.missing)
            return _FieldCodes(*C.dictionary_codes(tokens, ()), rows=rows)

        fields = self._table_fields()
        return _CodedChunk(parsed.batch.num_rows, parsed.numeric, parsed.label,
                           dict(zip([f.name for f in fields], map_threads(code, fields))), parsed.skipped)

    def _empty_block(self, n: int, with_label: bool) -> Dict[str, np.ndarray]:
        """Arrays for ``n`` encoded rows: cat int32 [n, n_cat], num float32 [n, n_num], seq int32
        [n, n_seq, L] (zero-padded) and, ``with_label``, label float32 [n]."""
        seq_fields = self.schema.fields_of("sequence")
        max_len = max([self.state[f.name]["max_len"] for f in seq_fields], default=0)
        block = {"cat": np.empty((n, len(self.schema.fields_of("categorical"))), dtype=np.int32),
                 "num": np.empty((n, len(self.schema.fields_of("numeric"))), dtype=np.float32),
                 "seq": np.zeros((n, len(seq_fields), max_len), dtype=np.int32)}
        if with_label:
            block["label"] = np.empty(n, dtype=np.float32)
        return block

    def _encode_into(self, coded: "_CodedChunk", positions: Dict[str, np.ndarray],
                     block: Dict[str, np.ndarray]) -> None:
        """Write the chunk's rows into ``block`` (see ``_empty_block``); ``positions[name]`` gives each
        dictionary entry of a table-backed field its position in the vocabulary (-1: out of it)."""
        def cat_column(f: FeatureSpec) -> np.ndarray:
            if f.type == "numeric":
                return self._bucketize(f, coded.numeric[f.name])
            return C.ids_from_codes(coded.fields[f.name].codes, positions[f.name], self.state[f.name]["offset"])

        def seq_column(f: FeatureSpec) -> np.ndarray:
            st, fc = self.state[f.name], coded.fields[f.name]
            ids = C.ids_from_codes(fc.codes, positions[f.name], st["offset"])
            return C.pad_sequences(ids, fc.rows, coded.n, st["max_len"])

        for j, column in enumerate(map_threads(cat_column, self.schema.fields_of("categorical"))):
            block["cat"][:, j] = column
        for j, f in enumerate(self.schema.fields_of("numeric")):
            block["num"][:, j] = self._scale(f, coded.numeric[f.name])
        for j, (f, column) in enumerate(zip(self.schema.fields_of("sequence"),
                                            map_threads(seq_column, self.schema.fields_of("sequence")))):
            block["seq"][:, j, : self.state[f.name]["max_len"]] = column
        if "label" in block:
            block["label"][:] = coded.label

    def _scale(self, f: FeatureSpec, values: np.ndarray) -> np.ndarray:
        """Missing (NaN) → ``fill`` (given in raw units), then the field's scaler."""
        fill = _log(np.float64(f.fill)) if f.log else f.fill
        values = np.where(np.isnan(values), fill, values)
        st = self.state[f.name]
        if f.scaler == "standard":
            values = (values - st["mean"]) / (st["std"] or 1.0)
        elif f.scaler == "minmax":
            span = st["max"] - st["min"]
            values = (values - st["min"]) / (span or 1.0)
        return values.astype(np.float32)

    def _bucketize(self, f: FeatureSpec, values: np.ndarray) -> np.ndarray:
        st = self.state[f.name]
        bins = np.searchsorted(np.asarray(st["edges"]), values, side="right").astype(np.int32)
        ids = bins + np.int32(st["offset"] + 2)
        ids[np.isnan(values)] = st["offset"] + MISSING
        return ids

    def _label_values(self, batch: pa.RecordBatch) -> Tuple[np.ndarray, np.ndarray, str]:
        """Targets (float64), a mask of values that are not valid labels, and what was expected."""
        arr = batch.column(self.schema.label)
        label_map = self.schema.label_map
        if label_map:
            index = pc.index_in(C.as_strings(arr), value_set=pa.array(list(label_map), pa.string()))
            targets = np.asarray(list(label_map.values()) + [np.nan])
            values = targets[pc.fill_null(index, len(label_map)).to_numpy(zero_copy_only=False)]
            return values, np.isnan(values), f"one of {sorted(label_map)} (label_map)"
        values, bad = C.parse_numbers(arr, pc.is_valid(arr))
        bad = np.isnan(values) if bad is None else (bad | np.isnan(values))
        if self.schema.task == "binary":
            bad |= ~np.isin(values, (0.0, 1.0))
            return values, bad, "0 or 1 (give label_map to map other values)"
        return values, bad, "a number"

    def _parse(self, chunk: Chunk, source: Source, on_bad_rows: str, with_label: bool) -> "_ParsedChunk":
        """Parse the numeric fields (log applied, NaN = missing) and the label of a chunk, once.

        A value that is not a number (or not a valid label) raises a ``DataError`` naming its
        line or row and column, or with ``on_bad_rows='skip'`` drops its row, counted."""
        if on_bad_rows not in ("error", "skip"):
            raise ValueError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
        batch, drop = chunk.batch, None
        numeric: Dict[str, np.ndarray] = {}
        checks = []

        def parse(f: FeatureSpec) -> Tuple[np.ndarray, Optional[np.ndarray]]:
            arr = batch.column(f.column)
            values, bad = C.parse_numbers(arr, C.present(arr, f.missing))
            return (_log(values) if f.log else values), bad

        numeric_fields = [f for f in self.schema.fields if f.type == "numeric"]
        for f, (values, bad) in zip(numeric_fields, map_threads(parse, numeric_fields)):
            numeric[f.name] = values
            checks.append((f.column, batch.column(f.column), bad, f"a number (field {f.name!r})"))
        label = None
        if with_label:
            label, bad, expected = self._label_values(batch)
            checks.append((self.schema.label, batch.column(self.schema.label), bad if bad.any() else None,
                           f"label {expected}"))
        for column, arr, bad, expected in checks:
            if bad is None:
                continue
            if on_bad_rows == "error":
                i = int(np.argmax(bad))
                raise DataError(f"expected {expected}, got {arr[i].as_py()!r}", source=source.name,
                                column=column, **chunk.locate(i))
            drop = bad if drop is None else drop | bad
        if drop is None:
            return _ParsedChunk(batch, numeric, label, 0)
        keep = ~drop
        return _ParsedChunk(batch.filter(pa.array(keep)), {k: v[keep] for k, v in numeric.items()},
                            None if label is None else label[keep], int(drop.sum()))

    def _check_columns(self, source: Source, require_label: bool) -> bool:
        """Raise on a missing feature (or label) column; return whether the label is present."""
        available = set(source.columns)
        for f in self.schema.fields:
            if f.column not in available:
                raise DataError(f"missing column for field {f.name!r}; the data has columns {sorted(available)}",
                                source=source.name, column=f.column)
        label = self.schema.label
        if label is None:
            return False
        if label not in available:
            if require_label:
                raise DataError(f"missing label column; the data has columns {sorted(available)}",
                                source=source.name, column=label)
            return False
        return True

    # ------------------------------------------------------------------ metadata
    def field_slots(self) -> List[Dict[str, Any]]:
        """Per field, what a model needs: name, encoded type, its column in cat/num/seq, and for
        table-backed fields the offset and size of its block and the field that owns the block."""
        slots = []
        for kind in ("categorical", "numeric", "sequence"):
            for j, f in enumerate(self.schema.fields_of(kind)):
                slot = {"name": f.name, "type": kind, "index": j, "embedding_dim": f.embedding_dim}
                if kind != "numeric":
                    st = self.state[f.name]
                    slot.update(offset=st["offset"], size=st["size"], owner=f.share_embedding or f.name)
                if kind == "sequence":
                    slot.update(max_len=self.state[f.name]["max_len"], pooling=f.pooling)
                slots.append(slot)
        return slots

    def feature_map(self, vectors: bool = True) -> FeatureMap:
        """The encoded fields as models see them (see ``ctrkit.features.feature_map``);
        ``vectors=False`` leaves pretrained vectors unread (a model whose weights are loaded next)."""
        return FeatureMap.from_processor(self, vectors)

    def pretrained_dim(self, name: str) -> int:
        """The width of a field's pretrained vectors, as fitted (read from the file for processors
        saved before the width was kept)."""
        f = self.schema[name]
        if not f.pretrained:
            raise SchemaError(f"field {name!r} has no pretrained vectors")
        st = self.state[f.share_embedding or f.name]
        return st["pretrained_dim"] if "pretrained_dim" in st else _vector_width(f.pretrained)

    def vocabulary(self, name: str) -> List[str]:
        """The tokens of a categorical or sequence field, in id order (after OOV and missing)."""
        f = self.schema[name]
        return list(self.state[f.share_embedding or f.name]["vocab"])

    def pretrained_vectors(self, name: str) -> Tuple[np.ndarray, np.ndarray]:
        """For a field with ``pretrained``: a float32 matrix [size, d] whose row ``i`` is the vector of
        the field's id ``offset + i`` (zeros where none is given: OOV, missing, unknown tokens) and a
        boolean mask of the rows that came from the file."""
        f = self.schema[name]
        if not f.pretrained:
            raise SchemaError(f"field {name!r} has no pretrained vectors")
        vectors = np.load(f.pretrained)
        if vectors.ndim != 2:
            raise DataError(f"expected a 2-D array [tokens, dim], got shape {vectors.shape}", source=f.pretrained)
        keys = _read_keys(f.pretrained_keys) if f.pretrained_keys else [str(i) for i in range(len(vectors))]
        if len(keys) != len(vectors):
            raise DataError(f"{len(keys)} keys for {len(vectors)} vectors", source=f.pretrained_keys)
        st = self.state[name]
        out = np.zeros((st["size"], vectors.shape[1]), dtype=np.float32)
        found = np.zeros(st["size"], dtype=bool)
        position = {tok: 2 + i for i, tok in enumerate(st["vocab"])}
        rows = [(position[k], i) for i, k in enumerate(keys) if k in position]
        if rows:
            dst, src = map(np.asarray, zip(*rows))
            out[dst] = vectors[src]
            found[dst] = True
        return out, found

    def fingerprint(self) -> str:
        """A short hash of the fitted state: splits encoded by equal processors share it."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        return {"format": FORMAT, "schema": self.schema.to_dict(), "seed": self.seed,
                "vocab_size": self.vocab_size, "fit_rows": self.fit_rows, "fit_skipped": self.fit_skipped,
                "state": self.state}

    def save(self, path: str) -> None:
        """Write the processor as one JSON file (atomically)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + ".tmp", "w") as fh:
            json.dump(self.to_dict(), fh)
        os.replace(path + ".tmp", path)

    @classmethod
    def load(cls, path: str) -> "Processor":
        with open(path) as fh:
            return cls.load_dict(json.load(fh), path)

    @classmethod
    def load_dict(cls, data: Dict[str, Any], path: str = "<dict>") -> "Processor":
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a ctrkit processor (format {data.get('format')!r}, expected {FORMAT!r})")
        proc = cls(Schema.from_dict(data["schema"]), seed=data["seed"])
        proc.state, proc.vocab_size = data["state"], data["vocab_size"]
        proc.fit_rows, proc.fit_skipped = data["fit_rows"], data["fit_skipped"]
        proc._build_vocab_arrays()
        return proc


def _log(values: np.ndarray) -> np.ndarray:
    """Signed log: sign(x) * log(1 + |x|), defined for negative counts too."""
    out = np.log1p(np.abs(values))
    return np.copysign(out, values, out=out if np.ndim(out) else None)


def _vector_width(path: str) -> int:
    """The width d of a .npy file of pretrained vectors [tokens, d] (read from its header)."""
    shape = np.load(path, mmap_mode="r").shape
    if len(shape) != 2:
        raise DataError(f"expected a 2-D array [tokens, dim], got shape {shape}", source=path)
    return int(shape[1])


def _read_keys(path: str) -> List[str]:
    """Tokens for pretrained vectors: a .npy array or a text file with one token per line."""
    if path.endswith(".npy"):
        return [str(k) for k in np.load(path, allow_pickle=False).tolist()]
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n\r") for line in fh]


def _merged_blocks(blocks: List[Dict[str, np.ndarray]], source: str, skipped: int) -> EncodedArrays:
    """Encoded chunks joined into one split in memory."""
    if not blocks:
        raise DataError("no rows to encode", source=source)
    merged = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    return EncodedArrays(merged["cat"], merged["num"], merged["seq"], merged.get("label"),
                         {"source": source, "skipped": skipped})


@dataclass
class _ParsedChunk:
    batch: pa.RecordBatch
    numeric: Dict[str, np.ndarray]
    label: Optional[np.ndarray]
    skipped: int


@dataclass
class _FieldCodes:
    """A table-backed field of a chunk: dictionary codes (-1: missing) per row, or per token of a
    sequence field with ``rows`` giving each token's row."""
    codes: np.ndarray
    dictionary: pa.Array
    rows: Optional[np.ndarray] = None


@dataclass
class _CodedChunk:
    """A chunk ready to encode: row count, parsed numeric fields, label, codes of the other fields."""
    n: int
    numeric: Dict[str, np.ndarray]
    label: Optional[np.ndarray]
    fields: Dict[str, _FieldCodes]
    skipped: int
