"""Streaming statistics of numeric fields: moments per field, and one uniform sample of rows shared
by the fields that are cut into quantile bins."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

QUANTILE_SAMPLE = 200_000


class Moments:
    """Count, mean, variance, min, max and missing count of one field, merged chunk by chunk
    (Chan et al.'s pairwise update of the mean and the sum of squared deviations)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf
        self.missing = 0

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        """The moments of one chunk of values (NaN = missing)."""
        out = cls()
        finite = values[~np.isnan(values)]
        out.missing = len(values) - len(finite)
        if len(finite):
            out.n, out.mean = len(finite), float(finite.mean())
            out.m2 = float(np.dot(finite - out.mean, finite - out.mean))
            out.min, out.max = float(finite.min()), float(finite.max())
        return out

    def update(self, values: np.ndarray) -> None:
        """Add a chunk of values (NaN = missing)."""
        self.merge(Moments.of(values))

    def merge(self, other: "Moments") -> None:
        """Add the rows ``other`` summarises (the same arithmetic in one process and across shares,
        so moments merged chunk by chunk in the same order are equal to the last bit)."""
        self.missing += other.missing
        if not other.n:
            return
        delta, total = other.mean - self.mean, self.n + other.n
        self.mean += delta * other.n / total
        self.m2 += other.m2 + delta * delta * self.n * other.n / total
        self.n = total
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def summary(self) -> Dict[str, Any]:
        if self.n == 0:
            return {"count": 0, "missing": self.missing, "mean": 0.0, "std": 1.0, "min": 0.0, "max": 0.0}
        return {"count": self.n, "missing": self.missing, "mean": self.mean,
                "std": float(np.sqrt(self.m2 / self.n)), "min": self.min, "max": self.max}


class RowSample:
    """A uniform sample of up to ``size`` rows of a stream of chunks, with the values of ``names``.

    Reservoir by random keys: every row gets a uniform key and the ``size`` smallest keys are kept.
    A row's key is a hash of the seed and the row's place (``part``, ``row``), not a draw from a
    stream, so shares of the input sampled apart and ``merge``d give exactly the sample of the
    whole. Once the sample is full, only rows whose key is below its largest can enter, so a chunk
    costs one key per row and a partition of the few that enter. One key per row serves every field
    (13 fields of 1M rows, with moments and 32 quantile bins: 0.25-0.26 s against 0.42-0.59 s with
    a reservoir per field); a field missing in most rows gets as few sampled values as it has
    present values among the sampled rows.
    """

    def __init__(self, names: Sequence[str], seed: int, size: int = QUANTILE_SAMPLE) -> None:
        self.names, self.size = list(names), size
        self._seed = _mix(np.array([seed], dtype=np.uint64))[0]
        self._next_row = 0
        self._keys = np.empty(0)
        self._values = np.empty((len(self.names), 0))   # one row per field

    def update(self, columns: Dict[str, np.ndarray], row: Optional[int] = None, part: int = 0) -> None:
        """Add a chunk: ``columns[name]`` holds the chunk's values of each field (NaN = missing);
        its rows are ``row``, ``row + 1``, ... of input ``part`` (default: after the last chunk's)."""
        if not self.names:
            return
        n = len(columns[self.names[0]])
        row = self._next_row if row is None else row
        self._next_row = row + n
        keys = self._row_keys(part, row, n)
        if len(self._keys) < self.size:                           # filling: all rows enter, then trim
            self._keys = np.concatenate([self._keys, keys])
            self._values = np.concatenate([self._values, self._rows(columns, slice(None))], axis=1)
            self._trim()
            return
        # Full: the rows with a key below the sample's largest compete, and as many sampled rows as
        # rows that enter are overwritten in place (cheaper than copying the sample for every chunk;
        # docs/performance.md).
        rows = np.flatnonzero(keys < self._keys.max())
        if not len(rows):
            return
        pool = np.concatenate([self._keys, keys[rows]])
        leave = np.argpartition(pool, self.size)[self.size:]     # the len(rows) largest keys
        slots = leave[leave < self.size]
        enters = np.ones(len(rows), dtype=bool)
        enters[leave[leave >= self.size] - self.size] = False
        rows = rows[enters]
        self._keys[slots] = keys[rows]
        self._values[:, slots] = self._rows(columns, rows)

    def merge(self, other: "RowSample") -> None:
        """Add the rows ``other`` sampled from another share of the input: the result is the sample
        one stream over both shares would have kept."""
        self._keys = np.concatenate([self._keys, other._keys])
        self._values = np.concatenate([self._values, other._values], axis=1)
        self._trim()

    def _trim(self) -> None:
        if len(self._keys) > self.size:
            keep = np.argpartition(self._keys, self.size)[: self.size]
            self._keys, self._values = self._keys[keep], self._values[:, keep]

    def _row_keys(self, part: int, row: int, n: int) -> np.ndarray:
        """Uniform keys in [0, 1) of rows ``row .. row + n - 1`` of ``part``."""
        place = np.arange(row, row + n, dtype=np.uint64) + np.uint64(part << 44)
        return (_mix(place ^ self._seed) >> np.uint64(11)) * 2.0 ** -53

    def _rows(self, columns: Dict[str, np.ndarray], rows: Union[slice, np.ndarray]) -> np.ndarray:
        """The values of ``rows`` of the chunk, one row per field: [fields, rows]."""
        return np.stack([columns[name][rows] for name in self.names])

    def values(self, name: str) -> np.ndarray:
        """The sampled rows' present (not NaN) values of field ``name``."""
        column = self._values[self.names.index(name)]
        return column[~np.isnan(column)]


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64s: well-spread hashes of consecutive integers."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bin_edges(moments: Moments, sample: np.ndarray, buckets: int, how: str) -> List[float]:
    """Inner edges (cut points) of at most ``buckets`` bins; a value ``x`` falls in bin
    ``searchsorted(edges, x, side='right')``.

    ``how='width'``: equal widths between min and max (also used for quantile bins of a field so
    sparse that no sampled row has a value). ``how='quantile'``: bins of about equal counts of
    ``sample`` that keep tied values apart (``quantile_edges``)."""
    if moments.n == 0:
        return []
    if how == "width" or not len(sample):
        return [float(c) for c in np.unique(np.linspace(moments.min, moments.max, buckets + 1)[1:-1])]
    return quantile_edges(sample, buckets)


def quantile_edges(sample: np.ndarray, buckets: int) -> List[float]:
    """Cut points of at most ``buckets`` bins of about equal counts of ``sample``, aware of ties.

    Plain quantile cuts coincide where one value fills many quantiles (a count field that is zero
    in 90% of rows keeps 3 of 32 bins). Here each distinct value gets its own bin when there are at
    most ``buckets`` of them; otherwise a value that holds at least a bin's share of the rows gets a
    bin of its own, and the runs of other values between such values share the remaining bins in
    proportion to their counts, cut at their cumulative counts (a run too light for a bin joins the
    heavy value before it). On Adult this raised FNN's valid AUC from 0.9095 to 0.9237
    (benchmarks/RESULTS.md)."""
    values, counts = np.unique(sample, return_counts=True)
    if len(values) <= buckets:
        return [float(v) for v in values[1:]]
    budget = buckets
    while True:
        starts = _bin_starts(counts, budget)
        if starts.sum() <= buckets or budget == 1:
            return [float(v) for v in values[1:][starts[1:]]]
        budget -= int(starts.sum()) - buckets


def _bin_starts(counts: np.ndarray, budget: int) -> np.ndarray:
    """Whether each distinct value (sorted, with ``counts``) starts a bin when ``budget`` bins are
    shared out: heavy values alone, the runs between them in proportion (see ``quantile_edges``)."""
    n = counts.sum()
    heavy = np.zeros(len(counts), dtype=bool)
    while True:                                     # the share grows as heavy values leave the pool
        share = (n - counts[heavy].sum()) / max(budget - int(heavy.sum()), 1)
        more = (counts >= share) & ~heavy
        if not more.any():
            break
        heavy |= more
    starts = heavy.copy()
    starts[0] = True
    run_id = np.cumsum(heavy) * 2 + 1               # light runs: odd ids between the heavy values
    run_id[heavy] -= 1
    for rid in np.unique(run_id[~heavy]):
        run = np.flatnonzero(run_id == rid)
        c = counts[run]
        bins = int(round(c.sum() / share))
        if bins == 0:                               # too light for a bin: joins the heavy value before it
            continue
        index = np.floor((np.cumsum(c) - c) * bins / c.sum()).astype(np.int64)
        starts[run[0]] = True
        starts[run[1:]] |= index[1:] != index[:-1]
    return starts
