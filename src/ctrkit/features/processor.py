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

from ..data.prefetch import prefetched
from ..data.readers import Chunk, Source, open_source
from ..data.store import EncodedArrays, write_split
from ..errors import DataError, SchemaError
from . import columns as C
from .feature_map import FeatureMap
from .spec import FeatureSpec, Schema

FORMAT = "ctrkit.processor/1"
PAD, OOV, MISSING = 0, 0, 1  # PAD is a table row; OOV and MISSING are offsets within a field block
QUANTILE_SAMPLE = 200_000
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
        counts: Dict[str, List[pa.Table]] = {}
        numeric: Dict[str, _Moments] = {}
        max_len: Dict[str, int] = {}
        self.fit_rows = self.fit_skipped = 0
        for n_chunk, chunk in enumerate(prefetched(source.chunks())):
            parsed = self._parse(chunk, source, on_bad_rows, with_label=False)
            batch = parsed.batch
            self.fit_skipped += parsed.skipped
            self.fit_rows += batch.num_rows
            for f in self.schema.fields:
                arr = batch.column(f.column)
                if f.type == "numeric":
                    keep_sample = bool(f.buckets) and f.bucketing == "quantile"
                    numeric.setdefault(f.name, _Moments(self.seed, keep_sample)).update(parsed.numeric[f.name])
                    continue
                owner = f.share_embedding or f.name
                if f.type == "categorical":
                    strings = C.as_strings(arr)
                    tokens = pc.filter(strings, C.present(strings, f.missing))
                else:
                    tokens, rows = C.split_sequences(C.as_strings(arr), f.separator, f.missing)
                    if len(rows):
                        max_len[f.name] = max(max_len.get(f.name, 0), int(C.sequence_lengths(rows, batch.num_rows).max()))
                counts.setdefault(owner, []).append(C.count_tokens(tokens))
                if (n_chunk + 1) % _COMPACT_EVERY == 0:
                    counts[owner] = [C.merge_counts(counts[owner])]
        self.fit_skipped += source.skipped
        if self.fit_rows == 0:
            raise DataError("no rows to fit on", source=source.name)
        self._build_state(counts, numeric, max_len)
        return self

    def _build_state(self, counts: Dict[str, List[pa.Table]], numeric: Dict[str, "_Moments"],
                     max_len: Dict[str, int]) -> None:
        state: Dict[str, Dict[str, Any]] = {}
        offset = 1
        for f in self.schema.fields:
            if f.type == "numeric":
                moments = numeric[f.name]
                st = moments.summary()
                if f.buckets:
                    st["edges"] = moments.edges(f.buckets, f.bucketing)
                    st.update(offset=offset, size=2 + len(st["edges"]) + 1)
                    offset += st["size"]
                state[f.name] = st
            elif not f.share_embedding:
                vocab = C.ordered_vocabulary(C.merge_counts(counts.get(f.name, [])), f.min_count)
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
        self.state, self.vocab_size = state, offset
        self._vocab_arrays = {}

    def _vocabulary(self, f: FeatureSpec) -> pa.Array:
        owner = f.share_embedding or f.name
        if owner not in self._vocab_arrays:
            self._vocab_arrays[owner] = pa.array(self.state[owner]["vocab"], pa.string())
        return self._vocab_arrays[owner]

    # ------------------------------------------------------------------ encoding
    def transform(self, data: Any, on_bad_rows: str = "error", require_label: bool = True,
                  **read_options: Any) -> EncodedArrays:
        """Encode all rows of ``data`` into arrays in memory."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        blocks = list(self.encode_chunks(source, on_bad_rows, require_label))
        if not blocks:
            raise DataError("no rows to encode", source=source.name)
        merged = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        return EncodedArrays(merged["cat"], merged["num"], merged["seq"], merged.get("label"),
                             {"source": source.name, "skipped": source.skipped + self._skipped})

    def transform_to(self, data: Any, folder: str, on_bad_rows: str = "error", require_label: bool = True,
                     **read_options: Any) -> int:
        """Encode ``data`` chunk by chunk into a split folder (see ``ctrkit.data.store``); returns rows."""
        source = open_source(data, on_bad_rows=on_bad_rows, **read_options)
        blocks = self.encode_chunks(source, on_bad_rows, require_label)
        return write_split(folder, blocks, lambda: {"source": source.name, "fingerprint": self.fingerprint(),
                                                    "skipped": source.skipped + self._skipped})

    def encode_chunks(self, source: Source, on_bad_rows: str = "error",
                      require_label: bool = True) -> Iterator[Dict[str, np.ndarray]]:
        """Encoded blocks (dicts of cat/num/seq[/label] arrays), one per chunk of ``source``."""
        for _, block in self.iter_encoded(source, on_bad_rows, require_label):
            yield block

    def iter_encoded(self, source: Source, on_bad_rows: str = "error", require_label: bool = True,
                     ignore_label: bool = False) -> Iterator[Tuple[Chunk, Dict[str, np.ndarray]]]:
        """Each chunk of ``source`` with its encoded block (rows align unless rows were skipped);
        ``ignore_label`` leaves any label column unread (prediction)."""
        if not self.fitted:
            raise RuntimeError("the processor is not fitted: call fit() or load() first")
        with_label = self._check_columns(source, require_label and not ignore_label) and not ignore_label
        self._skipped = 0
        for chunk in prefetched(source.chunks()):
            parsed = self._parse(chunk, source, on_bad_rows, with_label)
            self._skipped += parsed.skipped
            if parsed.batch.num_rows == 0:
                continue
            block = self._encode_features(parsed)
            if parsed.label is not None:
                block["label"] = parsed.label.astype(np.float32)
            yield chunk, block

    def _encode_features(self, parsed: "_ParsedChunk") -> Dict[str, np.ndarray]:
        batch = parsed.batch
        n = batch.num_rows
        cat_fields = self.schema.fields_of("categorical")
        num_fields = self.schema.fields_of("numeric")
        seq_fields = self.schema.fields_of("sequence")
        cat = np.empty((n, len(cat_fields)), dtype=np.int32)
        num = np.empty((n, len(num_fields)), dtype=np.float32)
        max_len = max([self.state[f.name]["max_len"] for f in seq_fields], default=0)
        seq = np.zeros((n, len(seq_fields), max_len), dtype=np.int32)
        for j, f in enumerate(cat_fields):
            arr = batch.column(f.column)
            if f.type == "numeric":
                cat[:, j] = self._bucketize(f, parsed.numeric[f.name])
            else:
                strings = C.as_strings(arr)
                cat[:, j] = C.lookup(strings, self._vocabulary(f), C.present(strings, f.missing),
                                     self.state[f.name]["offset"])
        for j, f in enumerate(num_fields):
            num[:, j] = self._scale(f, parsed.numeric[f.name])
        for j, f in enumerate(seq_fields):
            st = self.state[f.name]
            tokens, rows = C.split_sequences(C.as_strings(batch.column(f.column)), f.separator, f.missing)
            ids = C.lookup(tokens, self._vocabulary(f), pa.array(np.ones(len(tokens), bool)), st["offset"])
            seq[:, j, : st["max_len"]] = C.pad_sequences(ids, rows, n, st["max_len"])
        return {"cat": cat, "num": num, "seq": seq}

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
        for f in self.schema.fields:
            if f.type == "numeric":
                arr = batch.column(f.column)
                values, bad = C.parse_numbers(arr, C.present(arr, f.missing))
                numeric[f.name] = _log(values) if f.log else values
                checks.append((f.column, arr, bad, f"a number (field {f.name!r})"))
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

    def feature_map(self) -> FeatureMap:
        """The encoded fields as models see them (see ``ctrkit.features.feature_map``)."""
        return FeatureMap.from_processor(self)

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
        return proc


def _log(values: np.ndarray) -> np.ndarray:
    """Signed log: sign(x) * log(1 + |x|), defined for negative counts too."""
    return np.sign(values) * np.log1p(np.abs(values))


def _read_keys(path: str) -> List[str]:
    """Tokens for pretrained vectors: a .npy array or a text file with one token per line."""
    if path.endswith(".npy"):
        return [str(k) for k in np.load(path, allow_pickle=False).tolist()]
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n\r") for line in fh]


@dataclass
class _ParsedChunk:
    batch: pa.RecordBatch
    numeric: Dict[str, np.ndarray]
    label: Optional[np.ndarray]
    skipped: int


class _Moments:
    """Streaming count, mean, variance, min, max and (for quantile bins) a uniform sample."""

    def __init__(self, seed: int, keep_sample: bool) -> None:
        self.keep_sample = keep_sample
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf
        self.missing = 0
        self._rng = np.random.default_rng(seed)
        self._sample = np.empty(0)
        self._keys = np.empty(0)

    def update(self, values: np.ndarray) -> None:
        finite = values[~np.isnan(values)]
        self.missing += len(values) - len(finite)
        if not len(finite):
            return
        n_b, mean_b = len(finite), float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
        delta, total = mean_b - self.mean, self.n + n_b
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.n = total
        self.min, self.max = min(self.min, float(finite.min())), max(self.max, float(finite.max()))
        if not self.keep_sample:
            return
        # Reservoir by random keys: the QUANTILE_SAMPLE smallest keys are a uniform sample.
        keys = np.concatenate([self._keys, self._rng.random(n_b)])
        sample = np.concatenate([self._sample, finite])
        if len(keys) > QUANTILE_SAMPLE:
            top = np.argpartition(keys, QUANTILE_SAMPLE)[:QUANTILE_SAMPLE]
            keys, sample = keys[top], sample[top]
        self._keys, self._sample = keys, sample

    def summary(self) -> Dict[str, Any]:
        if self.n == 0:
            return {"count": 0, "missing": self.missing, "mean": 0.0, "std": 1.0, "min": 0.0, "max": 0.0}
        return {"count": self.n, "missing": self.missing, "mean": self.mean,
                "std": float(np.sqrt(self.m2 / self.n)), "min": self.min, "max": self.max}

    def edges(self, buckets: int, how: str) -> List[float]:
        """Inner bin edges: ``buckets - 1`` cut points (fewer where quantiles coincide)."""
        if self.n == 0:
            return []
        if how == "width":
            cuts = np.linspace(self.min, self.max, buckets + 1)[1:-1]
        else:
            cuts = np.quantile(self._sample, np.linspace(0, 1, buckets + 1)[1:-1])
        return [float(c) for c in np.unique(cuts)]
