"""The processor: fit vocabularies and scalers on training rows, encode any split, save as JSON.

Layout of the fused embedding table shared by every categorical and sequence field:
row 0 is the padding row; each field that owns a vocabulary gets a block starting at its
``offset``: ``offset`` = out-of-vocabulary, ``offset + 1`` = missing, ``offset + 2 + i`` = the
i-th token (most frequent first). Fields with ``share_embedding`` use their owner's block.
Bucketed numeric fields get a block of ``2 + bins`` ids laid out the same way.

The work is split by job: ``parse`` (numbers and labels of a chunk, bad values named),
``encode`` (codes → ids, scaling, padding), ``state`` (what is fitted per field, typed) and
``pretrained`` (vectors aligned with a vocabulary); this module fits, transforms and persists.
"""
from __future__ import annotations

import hashlib
from collections import Counter
import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from ..errors import DataError, SchemaError, reading
from ..io.prefetch import prefetched
from ..io.readers import Chunk, Source, TableSource, open_source
from ..io.store import EncodedArrays, write_split
from ..io.threads import SERIAL_ROWS
from . import columns as C
from .counts import TokenCounts
from .encode import CodedChunk, code_chunk, empty_block, encode_into, merged_blocks, table_fields
from .feature_map import FeatureMap
from .numeric_stats import Moments, RowSample, bin_edges
from .parse import check_columns, parse_chunk, skip_info
from .pretrained import aligned_vectors, read_keys, vector_width
from .rows import RowEncoder
from .spec import Schema
from .state import FieldState, NumericState, TableState, state_from_dict, state_to_dict

FORMAT = "ctrkit.processor/1"


def _open(data: Any, on_bad_rows: Optional[str], read_options: Dict[str, Any]) -> Tuple[Source, str]:
    """The source of ``data`` and its bad-row policy: ``on_bad_rows`` when given, else the source's
    own (a reader opened with ``on_bad_rows='skip'`` has the processor skip bad values too)."""
    source = open_source(data, **({"on_bad_rows": on_bad_rows} if on_bad_rows else {}), **read_options)
    return source, on_bad_rows or source.on_bad_rows
_COMPACT_EVERY = 8


class Processor:
    """Turns rows into model-ready arrays (see the module docstring for the id layout).

    Args:
        schema: the label and the fields.
        seed: seeds the sample that quantile bins are cut from.

    A fitted processor keeps no per-call state: one processor encodes from many threads at once.

    >>> proc = Processor(schema).fit("train.csv")
    >>> valid = proc.transform("valid.csv")        # EncodedArrays in memory
    >>> proc.transform_to("test.csv", "out/test")  # streamed to .npy files
    >>> proc.save("out/processor.json"); Processor.load("out/processor.json")
    """

    def __init__(self, schema: Schema, seed: int = 0) -> None:
        self.schema = schema
        self.seed = seed
        self.state: Dict[str, FieldState] = {}
        self.vocab_size = 1  # rows in the fused table, padding row included
        self.fit_rows = 0
        self.fit_skipped = 0
        self._fit_skipped_by: Counter = Counter()
        self._vocab_arrays: Dict[str, pa.Array] = {}
        self._row_encoder: Optional[RowEncoder] = None

    # ------------------------------------------------------------------ fitting
    @property
    def fitted(self) -> bool:
        return bool(self.state)

    def fit(self, data: Any, on_bad_rows: Optional[str] = None, **read_options: Any) -> "Processor":
        """Learn vocabularies, scalers, bins and sequence lengths from the training rows.
        ``on_bad_rows``: ``error`` or ``skip`` (default: the source's own, else ``error``)."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        check_columns(self.schema, source, require_label=False)
        self._learn(source, on_bad_rows, with_label=False, keep=False)
        return self

    def fit_transform(self, data: Any, on_bad_rows: Optional[str] = None, **read_options: Any) -> EncodedArrays:
        """``fit`` on ``data`` and return it encoded, equal to ``fit(data).transform(data)`` but in one
        read: each chunk is parsed and dictionary-encoded once, and its codes become ids when the
        vocabularies are known. The label column is required."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        with_label = check_columns(self.schema, source, require_label=True)
        counts, kept = self._learn(source, on_bad_rows, with_label, keep=True)
        owners = {self._owner(f.name): f for f in table_fields(self.schema)}
        positions = {owner: counts[owner].slot_positions(self._vocab_arrays[owner]) for owner in owners}
        out = empty_block(self.schema, self.state, self.fit_rows, with_label)
        row = 0
        while kept:
            coded, slots = kept.pop(0)   # frees each chunk's codes once encoded
            encode_into(self.schema, self.state, coded,
                        {name: positions[self._owner(name)][slot] for name, slot in slots.items()},
                        {k: v[row: row + coded.n] for k, v in out.items()})
            row += coded.n
        return EncodedArrays(out["cat"], out["num"], out["seq"], out.get("label"),
                             {"source": source.name, **skip_info(source, self._fit_skipped_by)})

    def _learn(self, source: Source, on_bad_rows: str, with_label: bool, keep: bool
               ) -> Tuple[Dict[str, TokenCounts], List[Tuple[CodedChunk, Dict[str, int]]]]:
        """One pass over ``source`` that fits the state. Returns the token counts per vocabulary and,
        with ``keep``, every chunk's codes with its slot in those counts (else they are compacted)."""
        counts: Dict[str, TokenCounts] = {}
        numeric = [f for f in self.schema.fields if f.type == "numeric"]   # bucketed ones too
        moments = {f.name: Moments() for f in numeric}
        sample = RowSample([f.name for f in numeric if f.buckets and f.bucketing == "quantile"], self.seed)
        max_len: Dict[str, int] = {}
        kept: List[Tuple[CodedChunk, Dict[str, int]]] = []
        self.fit_rows = self.fit_skipped = 0
        self._fit_skipped_by: Counter = Counter()
        for n_chunk, chunk in enumerate(prefetched(source.chunks())):
            coded = code_chunk(self.schema, parse_chunk(self.schema, chunk, source, on_bad_rows, with_label))
            self._fit_skipped_by.update(coded.skipped)
            self.fit_skipped += sum(coded.skipped.values())
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
        state: Dict[str, FieldState] = {}
        offset = 1
        for f in self.schema.fields:
            if f.type == "numeric":
                st = NumericState(**moments[f.name].summary())
                if f.buckets:
                    values = sample.values(f.name) if f.name in sample.names else np.empty(0)
                    st.edges = bin_edges(moments[f.name], values, f.buckets, f.bucketing)
                    st.offset, st.size = offset, 2 + len(st.edges) + 1
                    offset += st.size
                state[f.name] = st
            elif not f.share_embedding:
                vocab = C.ordered_vocabulary(counts.get(f.name, TokenCounts()).table(), f.min_count)
                if f.pretrained_keys:
                    known = set(vocab)
                    vocab += [k for k in read_keys(f.pretrained_keys) if k not in known]
                state[f.name] = TableState(offset, 2 + len(vocab), vocab,
                                           pretrained_dim=vector_width(f.pretrained) if f.pretrained else None)
                offset += 2 + len(vocab)
        for f in self.schema.fields:
            if f.share_embedding:
                owner = state[f.share_embedding]
                state[f.name] = TableState(owner.offset, owner.size)
            if f.type == "sequence":
                state[f.name].max_len = f.max_len or max(1, max_len.get(f.name, 1))
        self.state, self.vocab_size = state, offset
        self._build_vocab_arrays()

    def _build_vocab_arrays(self) -> None:
        """The vocabularies as Arrow arrays, built once (encoding reads them, from any thread)."""
        self._row_encoder = None
        self._vocab_arrays = {name: pa.array(st.vocab, pa.string()) for name, st in self.state.items()
                              if isinstance(st, TableState) and st.vocab is not None}

    def _owner(self, name: str) -> str:
        """The field whose vocabulary (and block of the table) ``name`` uses."""
        return self.schema[name].share_embedding or name

    # ------------------------------------------------------------------ encoding
    def transform(self, data: Any, on_bad_rows: Optional[str] = None, require_label: bool = True,
                  **read_options: Any) -> EncodedArrays:
        """Encode all rows of ``data`` into arrays in memory."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        skipped: Counter = Counter()
        blocks = [block for _, block in self._encoded(source, on_bad_rows, require_label, False, skipped)]
        return merged_blocks(blocks, {"source": source.name, **skip_info(source, skipped)})

    def transform_rows(self, rows: Sequence[Mapping[str, Any]]) -> EncodedArrays:
        """Encode rows given as mappings (``{column: value}``, absent or None = missing) exactly as
        ``transform`` encodes the same rows read from a file; quicker for a few rows (a service's
        requests), slower for thousands."""
        if not self.fitted:
            raise RuntimeError("the processor is not fitted: call fit() or load() first")
        return self._rows().encode(rows)

    def _rows(self) -> RowEncoder:
        """The row encoder, with its dict per vocabulary (built at first use)."""
        encoder = self._row_encoder
        if encoder is None:
            encoder = self._row_encoder = RowEncoder(self)
        return encoder

    def transform_to(self, data: Any, folder: str, on_bad_rows: Optional[str] = None, require_label: bool = True,
                     **read_options: Any) -> int:
        """Encode ``data`` chunk by chunk into a split folder (see ``ctrkit.io.store``); returns rows."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        skipped: Counter = Counter()
        blocks = (block for _, block in self._encoded(source, on_bad_rows, require_label, False, skipped))
        return write_split(folder, blocks, lambda: {"source": source.name, "fingerprint": self.fingerprint(),
                                                    **skip_info(source, skipped)})

    def iter_encoded(self, source: Source, on_bad_rows: Optional[str] = None, require_label: bool = True,
                     ignore_label: bool = False) -> Iterator[Tuple[Chunk, Dict[str, np.ndarray]]]:
        """Each chunk of ``source`` with its encoded block (rows align unless rows were skipped);
        ``ignore_label`` leaves any label column unread (prediction)."""
        return self._encoded(source, on_bad_rows or source.on_bad_rows, require_label, ignore_label, Counter())

    def _encoded(self, source: Source, on_bad_rows: str, require_label: bool, ignore_label: bool,
                 skipped: Counter) -> Iterator[Tuple[Chunk, Dict[str, np.ndarray]]]:
        """``iter_encoded``, adding the rows it skips to ``skipped`` (by kind): the count lives with
        the caller, not on the processor, so one processor encodes from many threads at once."""
        if not self.fitted:
            raise RuntimeError("the processor is not fitted: call fit() or load() first")
        with_label = check_columns(self.schema, source, require_label and not ignore_label) and not ignore_label
        chunks = source.chunks() if isinstance(source, TableSource) else prefetched(source.chunks())
        for chunk in chunks:    # a table in memory needs no reader thread ahead of it
            coded = code_chunk(self.schema, parse_chunk(self.schema, chunk, source, on_bad_rows, with_label))
            skipped.update(coded.skipped)
            if coded.n == 0:
                continue
            positions = {name: self._positions(name, fc.dictionary, coded.n) for name, fc in coded.fields.items()}
            block = empty_block(self.schema, self.state, coded.n, coded.label is not None)
            encode_into(self.schema, self.state, coded, positions, block)
            yield chunk, block

    def _positions(self, name: str, tokens: pa.Array, rows: int) -> np.ndarray:
        """Each distinct token's position in the field's vocabulary (-1: not in it). A chunk of up
        to ``SERIAL_ROWS`` rows looks its tokens up in the row encoder's dicts: hashing a 200k-token
        vocabulary for every chunk cost a 100-row request 15 ms (docs/performance.md)."""
        owner = self._owner(name)
        if rows <= SERIAL_ROWS:
            index = self._rows().positions[owner]
            return np.fromiter((index.get(t, -1) for t in tokens.to_pylist()), np.int32, len(tokens))
        return C.vocabulary_positions(tokens, self._vocab_arrays[owner])

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
                    slot.update(offset=st.offset, size=st.size, owner=f.share_embedding or f.name)
                if kind == "sequence":
                    slot.update(max_len=self.state[f.name].max_len, pooling=f.pooling)
                slots.append(slot)
        return slots

    def feature_map(self, vectors: bool = True) -> FeatureMap:
        """The encoded fields as models see them (see ``ctrkit.features.feature_map``);
        ``vectors=False`` leaves pretrained vectors unread (a model whose weights are loaded next)."""
        return FeatureMap.from_processor(self, vectors)

    def pretrained_dim(self, name: str) -> int:
        """The width of a field's pretrained vectors, as fitted (read from the file for processors
        saved before the width was kept)."""
        f = self._pretrained_field(name)
        st = self.state[f.share_embedding or f.name]
        return st.pretrained_dim if st.pretrained_dim is not None else vector_width(f.pretrained)

    def vocabulary(self, name: str) -> List[str]:
        """The tokens of a categorical or sequence field, in id order (after OOV and missing)."""
        return list(self.state[self._owner(name)].vocab)

    def pretrained_vectors(self, name: str) -> Tuple[np.ndarray, np.ndarray]:
        """For a field with ``pretrained``: a float32 matrix [size, d] whose row ``i`` is the vector of
        the field's id ``offset + i`` (zeros where none is given: OOV, missing, unknown tokens) and a
        boolean mask of the rows that came from the file."""
        f = self._pretrained_field(name)
        return aligned_vectors(f.pretrained, f.pretrained_keys, self.state[name])

    def _pretrained_field(self, name: str):
        f = self.schema[name]
        if not f.pretrained:
            raise SchemaError(f"field {name!r} has no pretrained vectors")
        return f

    def fingerprint(self) -> str:
        """A short hash of the fitted state: splits encoded by equal processors share it."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        return {"format": FORMAT, "schema": self.schema.to_dict(), "seed": self.seed,
                "vocab_size": self.vocab_size, "fit_rows": self.fit_rows, "fit_skipped": self.fit_skipped,
                "state": {name: state_to_dict(st) for name, st in self.state.items()}}

    def save(self, path: str) -> None:
        """Write the processor as one JSON file (atomically)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + ".tmp", "w") as fh:
            json.dump(self.to_dict(), fh)
        os.replace(path + ".tmp", path)

    @classmethod
    def load(cls, path: str) -> "Processor":
        with reading(path, "processor file"):
            with open(path) as fh:
                return cls.load_dict(json.load(fh), path)

    @classmethod
    def load_dict(cls, data: Dict[str, Any], path: str = "<dict>") -> "Processor":
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a ctrkit processor (format {data.get('format')!r}, expected {FORMAT!r})")
        proc = cls(Schema.from_dict(data["schema"]), seed=data["seed"])
        proc.state = {name: state_from_dict(st) for name, st in data["state"].items()}
        proc.vocab_size = data["vocab_size"]
        proc.fit_rows, proc.fit_skipped = data["fit_rows"], data["fit_skipped"]
        proc._build_vocab_arrays()
        return proc
