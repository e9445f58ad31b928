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
import itertools
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
from .encode import code_chunk, empty_block, encode_into, merged_blocks, table_fields
from .feature_map import FeatureMap
from .numeric_stats import bin_edges
from .parse import check_columns, parse_chunk, skip_info
from .pretrained import aligned_vectors, read_keys, vector_width
from .rows import RowEncoder
from .spec import Schema
from .tally import FitTally
from .state import FieldState, NumericState, TableState, state_from_dict, state_to_dict

FORMAT = "ctrkit.processor/1"


def _open(data: Any, on_bad_rows: Optional[str], read_options: Dict[str, Any]) -> Tuple[Source, str]:
    """The source of ``data`` and its bad-row policy: ``on_bad_rows`` when given, else the source's
    own (a reader opened with ``on_bad_rows='skip'`` has the processor skip bad values too)."""
    source = open_source(data, **({"on_bad_rows": on_bad_rows} if on_bad_rows else {}), **read_options)
    return source, on_bad_rows or source.on_bad_rows


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
        self._vocab_arrays: Dict[str, pa.Array] = {}
        self._row_encoder: Optional[RowEncoder] = None

    # ------------------------------------------------------------------ fitting
    @property
    def fitted(self) -> bool:
        return bool(self.state)

    def fit(self, data: Any, on_bad_rows: Optional[str] = None, **read_options: Any) -> "Processor":
        """Learn vocabularies, scalers, bins and sequence lengths from the training rows (a row whose
        label is bad counts as bad, when the rows have labels). ``on_bad_rows``: ``error`` or
        ``skip`` (default: the source's own, else ``error``)."""
        return self.fit_tallies([self.tally(data, on_bad_rows, **read_options)])

    def tally(self, data: Any, on_bad_rows: Optional[str] = None, keep: bool = False,
              **read_options: Any) -> FitTally:
        """Count what fitting learns from ``data`` (one share of the training rows, say) without
        building the state; ``fit_tallies`` builds it from the tallies of all shares. With ``keep``
        (the label column is then required), the tally also keeps every chunk's dictionary codes,
        which ``encode_kept`` turns into encoded rows once the state is built: fit and encode in
        one read of the data."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        with_label = check_columns(self.schema, source, require_label=keep)
        tally = FitTally(self.schema, self.seed, with_label)
        for chunk in prefetched(source.chunks()):
            coded = code_chunk(self.schema, parse_chunk(self.schema, chunk, source, on_bad_rows, with_label))
            slots = tally.add(coded, chunk.part, chunk.first_row, compact=not keep)
            if keep:
                tally.kept.append((coded, slots))
        tally.reader_skipped, tally.source = source.skipped, source.name
        if not keep:
            tally.compact()
        return tally

    def fit_tallies(self, tallies: Sequence[FitTally]) -> "Processor":
        """Fit from the tallies of consecutive shares of the training rows, in row order: the same
        state as ``fit`` on all the rows (``ctrkit.features.tally``)."""
        tally = FitTally.merged(tallies)
        if tally.rows == 0:
            raise DataError("no rows to fit on", source=tallies[0].source)
        self._build_state(tally)
        return self

    def encode_kept(self, tally: FitTally) -> Iterator[Dict[str, np.ndarray]]:
        """The encoded blocks of the chunks a ``tally(..., keep=True)`` kept, in order, by this
        fitted processor; each chunk's codes are freed as it is encoded."""
        owners = {self._owner(f.name) for f in table_fields(self.schema)}
        positions = {owner: tally.counts[owner].slot_positions(self._vocab_arrays[owner])
                     for owner in owners if owner in tally.counts}
        kept = tally.kept
        while kept:
            coded, slots = kept.pop(0)
            block = empty_block(self.schema, self.state, coded.n, tally.with_label)
            encode_into(self.schema, self.state, coded,
                        {name: positions[self._owner(name)][slot] for name, slot in slots.items()}, block)
            yield block
            del block

    def transform_kept_to(self, tally: FitTally, folder: str) -> int:
        """``encode_kept`` written into a split folder (an empty split when the tally has no rows);
        returns rows."""
        empty = [empty_block(self.schema, self.state, 0, tally.with_label)]
        return write_split(folder, itertools.chain(empty, self.encode_kept(tally)),
                           {"source": tally.source, "fingerprint": self.fingerprint(), **tally.skip_info()})

    def fit_transform(self, data: Any, on_bad_rows: Optional[str] = None, **read_options: Any) -> EncodedArrays:
        """``fit`` on ``data`` and return it encoded, equal to ``fit(data).transform(data)`` but in one
        read: each chunk is parsed and dictionary-encoded once, and its codes become ids when the
        vocabularies are known. The label column is required."""
        tally = self.tally(data, on_bad_rows, keep=True, **read_options)
        self.fit_tallies([tally])
        out = empty_block(self.schema, self.state, self.fit_rows, tally.with_label)
        row = 0
        for block in self.encode_kept(tally):
            n = len(block["cat"])
            for name, arr in block.items():
                out[name][row: row + n] = arr
            row += n
        return EncodedArrays(out["cat"], out["num"], out["seq"], out.get("label"),
                             {"source": tally.source, **tally.skip_info()})

    def fit_transform_to(self, data: Any, folder: str, on_bad_rows: Optional[str] = None,
                         **read_options: Any) -> int:
        """``fit_transform`` written chunk by chunk into a split folder instead of one array in memory
        (what stays in memory is every chunk's codes, not its padded ids); returns rows."""
        tally = self.tally(data, on_bad_rows, keep=True, **read_options)
        return self.fit_tallies([tally]).transform_kept_to(tally, folder)

    def _build_state(self, tally: FitTally) -> None:
        state: Dict[str, FieldState] = {}
        offset = 1
        for f in self.schema.fields:
            if f.type == "numeric":
                moments = tally.numeric_moments(f.name)
                st = NumericState(**moments.summary())
                if f.buckets:
                    sample = tally.sample
                    values = sample.values(f.name) if f.name in sample.names else np.empty(0)
                    st.edges = bin_edges(moments, values, f.buckets, f.bucketing)
                    st.offset, st.size = offset, 2 + len(st.edges) + 1
                    offset += st.size
                state[f.name] = st
            elif not f.share_embedding:
                vocab = C.ordered_vocabulary(tally.counts.get(f.name, TokenCounts()).table(), f.min_count)
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
                state[f.name].max_len = f.max_len or max(1, tally.max_len.get(f.name, 1))
        self.state, self.vocab_size = state, offset
        self.fit_rows, self.fit_skipped = tally.rows, tally.skipped
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
                     allow_empty: bool = False, **read_options: Any) -> int:
        """Encode ``data`` chunk by chunk into a split folder (see ``ctrkit.io.store``); returns rows.
        With ``allow_empty``, data without rows (one process's share of none) writes an empty split."""
        source, on_bad_rows = _open(data, on_bad_rows, read_options)
        skipped: Counter = Counter()
        blocks: Iterator[Dict[str, np.ndarray]] = (
            block for _, block in self._encoded(source, on_bad_rows, require_label, False, skipped))
        if allow_empty:
            with_label = check_columns(self.schema, source, require_label)
            blocks = itertools.chain([empty_block(self.schema, self.state, 0, with_label)], blocks)
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
