"""A Criteo-shaped synthetic generator with planted field interactions.

Columns: ``label``, numeric ``I1..In`` (heavy-tailed counts, some missing), categorical
``C1..Cm`` (vocabularies log-spaced from ``vocab_min`` to ``vocab_max``, Zipf-like frequencies,
tokens as 8-character hex hashes, as in Criteo) and optional sequence fields ``S1..`` (``|``-separated ids).

The label is Bernoulli(sigmoid(z)) with
    z = b + Σ_{f ∈ first_order} w_f[x_f] + Σ_{numeric} β_f · std(log1p x_f)
          + Σ_{(f,g) ∈ pairs} s₂ ⟨u_f[x_f], u_g[x_g]⟩ + Σ_{(f,g,h) ∈ triples} s₃ Σ_k u_f[x_f]_k u_g[x_g]_k u_h[x_h]_k
with per-id weights w and latent vectors u ∈ R^k drawn once from the seed; ``b`` is set so that the
mean click rate is ``ctr``. Pairs and triples are planted among the fields with the smallest
vocabularies so that they can be learned from modest data. ``info`` reports every planted term.
Everything is deterministic given the seed; rows are generated in blocks seeded by block index,
so a file of any size streams in bounded memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from ..errors import CTRKitError
from ..features.spec import FeatureSpec, Schema
from ..io.readers import TableSource
from .base import RawDataset, split_table

BLOCK_ROWS = 100_000
_SCRAMBLE = np.uint64(2654435761)


@dataclass
class SyntheticConfig:
    n_numeric: int = 13
    n_categorical: int = 26
    n_sequence: int = 0
    vocab_min: int = 10
    vocab_max: int = 200_000
    zipf: float = 1.1
    missing_rate: float = 0.05
    n_first_order: int = 8
    n_pairs: int = 4
    n_triples: int = 1
    latent_dim: int = 4
    first_order_scale: float = 0.6
    pair_scale: float = 1.5
    triple_scale: float = 1.0
    ctr: float = 0.25
    seq_vocab: int = 1000
    seq_max_len: int = 10
    seed: int = 0


class SyntheticWorld:
    """The fixed part of the generator (vocabularies, weights, planted terms), from the seed."""

    def __init__(self, config: SyntheticConfig) -> None:
        c = self.config = config
        rng = np.random.default_rng([c.seed, 0])
        self.numeric = [f"I{i + 1}" for i in range(c.n_numeric)]
        self.categorical = [f"C{i + 1}" for i in range(c.n_categorical)]
        self.sequence = [f"S{i + 1}" for i in range(c.n_sequence)]
        sizes = np.geomspace(c.vocab_min, c.vocab_max, c.n_categorical).round().astype(int)
        self.vocab = dict(zip(self.categorical, rng.permutation(sizes).tolist()))
        self.probs = {f: _zipf(v, c.zipf) for f, v in self.vocab.items()}
        self.num_mu = rng.uniform(0.0, 4.0, c.n_numeric)
        self.num_sigma = rng.uniform(0.5, 1.5, c.n_numeric)
        self.num_beta = rng.normal(0, 0.3, c.n_numeric)
        planted = 2 * c.n_pairs + 3 * c.n_triples
        if planted > c.n_categorical:
            raise CTRKitError(f"synthetic data: n_pairs {c.n_pairs} and n_triples {c.n_triples} plant terms on "
                              f"{planted} distinct categorical fields, but n_categorical is {c.n_categorical}: "
                              "lower n_pairs or n_triples, or raise n_categorical")
        by_size = sorted(self.categorical, key=lambda f: (self.vocab[f], f))
        small = by_size[: max(planted, 2)]
        order = [small[i] for i in rng.permutation(len(small))]
        self.pairs: List[Tuple[str, str]] = [(order[2 * i], order[2 * i + 1]) for i in range(c.n_pairs)]
        rest = order[2 * c.n_pairs:]
        self.triples: List[Tuple[str, str, str]] = [tuple(rest[3 * i: 3 * i + 3]) for i in range(c.n_triples)]
        self.first_order = sorted(rng.choice(self.categorical, size=min(c.n_first_order, c.n_categorical),
                                             replace=False).tolist(), key=self.categorical.index)
        self.weights = {f: rng.normal(0, c.first_order_scale, self.vocab[f]) for f in self.first_order}
        involved = {f for term in self.pairs + self.triples for f in term}
        self.latent = {f: rng.normal(0, 1, (self.vocab[f], c.latent_dim)) / np.sqrt(c.latent_dim)
                       for f in sorted(involved)}
        self.seq_weights = rng.normal(0, c.first_order_scale, (c.n_sequence, c.seq_vocab))
        self.seq_probs = _zipf(c.seq_vocab, c.zipf)
        self.bias = self._calibrate_bias()

    def _logits_and_columns(self, rng: np.random.Generator, n: int) -> Tuple[np.ndarray, Dict[str, Any]]:
        c = self.config
        z = np.zeros(n)
        cols: Dict[str, Any] = {}
        for j, f in enumerate(self.numeric):
            x = np.floor(np.exp(rng.normal(self.num_mu[j], self.num_sigma[j], n)))
            z += self.num_beta[j] * (np.log1p(x) - self.num_mu[j]) / self.num_sigma[j]
            missing = rng.random(n) < c.missing_rate
            cols[f] = (x, missing)
        ids = {f: rng.choice(self.vocab[f], size=n, p=self.probs[f]) for f in self.categorical}
        for f in self.first_order:
            z += self.weights[f][ids[f]]
        for f, g in self.pairs:
            z += c.pair_scale * np.einsum("nk,nk->n", self.latent[f][ids[f]], self.latent[g][ids[g]])
        for f, g, h in self.triples:
            z += c.triple_scale * np.einsum("nk,nk,nk->n", self.latent[f][ids[f]], self.latent[g][ids[g]],
                                            self.latent[h][ids[h]]) * np.sqrt(c.latent_dim)
        for j, f in enumerate(self.sequence):
            lengths = rng.integers(0, c.seq_max_len + 1, n)
            items = rng.choice(c.seq_vocab, size=int(lengths.sum()), p=self.seq_probs)
            row = np.repeat(np.arange(n), lengths)
            sums = np.bincount(row, weights=self.seq_weights[j][items], minlength=n)
            z += sums / np.maximum(lengths, 1)
            cols[f] = (items, lengths)
        for f in self.categorical:
            cols[f] = ids[f]
        return z, cols

    def _calibrate_bias(self) -> float:
        z, _ = self._logits_and_columns(np.random.default_rng([self.config.seed, 1]), 20_000)
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if _sigmoid(z + mid).mean() < self.config.ctr:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def block(self, index: int, n: int) -> pa.Table:
        """Rows of block ``index`` (deterministic from the seed and the index)."""
        rng = np.random.default_rng([self.config.seed, 2, index])
        z, cols = self._logits_and_columns(rng, n)
        label = (rng.random(n) < _sigmoid(z + self.bias)).astype(np.int8)
        arrays: Dict[str, pa.Array] = {"label": pa.array(label)}
        for f in self.numeric:
            x, missing = cols[f]
            arrays[f] = pa.array(x.astype(np.int64), mask=missing)
        for k, f in enumerate(self.categorical):
            arrays[f] = _hex_tokens(_token(cols[f], k))
        for f in self.sequence:
            items, lengths = cols[f]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            tokens = pa.array(items.astype(np.int64)).cast(pa.string())
            joined = pa.compute.binary_join(pa.ListArray.from_arrays(pa.array(offsets), tokens), "|")
            arrays[f] = joined
        return pa.table(arrays)

    def info(self) -> Dict[str, Any]:
        return {"first_order": self.first_order, "pairs": [list(p) for p in self.pairs],
                "triples": [list(t) for t in self.triples], "vocab_sizes": self.vocab,
                "numeric_effects": dict(zip(self.numeric, self.num_beta.round(4).tolist())),
                "sequence_fields": self.sequence, "ctr": self.config.ctr, "seed": self.config.seed}

    def schema(self) -> Schema:
        fields = [FeatureSpec(name=f, type="numeric", log=True) for f in self.numeric]
        fields += [FeatureSpec(name=f, type="categorical") for f in self.categorical]
        fields += [FeatureSpec(name=f, type="sequence", separator="|", max_len=self.config.seq_max_len)
                   for f in self.sequence]
        return Schema(fields=fields, label="label")


def _zipf(n: int, a: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** a
    return p / p.sum()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _token(ids: np.ndarray, field_index: int) -> np.ndarray:
    """Scramble ids into distinct 32-bit integers, like Criteo's hashed tokens."""
    x = ((ids.astype(np.uint64) + np.uint64((field_index << 24) + 0x9E3779B9)) * _SCRAMBLE) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)  # odd multiply and xor-shift are both bijections on 32 bits
    return x.astype(np.int64)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_tokens(values: np.ndarray) -> pa.Array:
    """8-character lower-case hex strings of 32-bit values, built without a Python loop."""
    shifts = np.arange(28, -4, -4, dtype=np.int64)
    digits = _HEX[(values[:, None] >> shifts) & 0xF]
    return pa.array(np.ascontiguousarray(digits).view("S8").ravel()).cast(pa.string())


def generate_blocks(n_rows: int, config: Optional[SyntheticConfig] = None) -> Iterator[pa.Table]:
    """``n_rows`` rows as tables of at most ``BLOCK_ROWS`` rows."""
    world = SyntheticWorld(config or SyntheticConfig())
    for index, start in enumerate(range(0, n_rows, BLOCK_ROWS)):
        yield world.block(index, min(BLOCK_ROWS, n_rows - start))


def generate(n_rows: int, config: Optional[SyntheticConfig] = None) -> pa.Table:
    """``n_rows`` rows in one table."""
    return pa.concat_tables(list(generate_blocks(n_rows, config)))


def write_csv(path: str, n_rows: int, config: Optional[SyntheticConfig] = None, sep: str = ",") -> None:
    """Write ``n_rows`` rows as a CSV file with a header, block by block."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = None
    with open(path, "wb") as sink:
        for table in generate_blocks(n_rows, config):
            if writer is None:
                writer = pa_csv.CSVWriter(sink, table.schema, write_options=pa_csv.WriteOptions(delimiter=sep, quoting_style="none"))
            writer.write_table(table)
        if writer is not None:
            writer.close()


def load(n_rows: int = 100_000, seed: int = 0, valid_fraction: float = 0.1, test_fraction: float = 0.1,
         **options: Any) -> RawDataset:
    """In-memory synthetic splits (``options`` are ``SyntheticConfig`` fields)."""
    config = SyntheticConfig(seed=seed, **options)
    world = SyntheticWorld(config)
    table = pa.concat_tables([world.block(i, min(BLOCK_ROWS, n_rows - s))
                              for i, s in enumerate(range(0, n_rows, BLOCK_ROWS))])
    parts = split_table(table, {"train": 1 - valid_fraction - test_fraction, "valid": valid_fraction,
                                "test": test_fraction}, seed, name="synthetic")
    return RawDataset(name="synthetic", schema=world.schema(), splits=parts,
                      info={"rows": n_rows, **world.info()})


__all__ = ["SyntheticConfig", "SyntheticWorld", "generate", "generate_blocks", "write_csv", "load", "TableSource"]
