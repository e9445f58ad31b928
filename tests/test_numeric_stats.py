import numpy as np
import pytest

from ctrkit.features.numeric_stats import Moments, RowSample, bin_edges, quantile_edges


def chunks_of(values: np.ndarray, sizes):
    start = 0
    for size in sizes:
        yield values[start: start + size]
        start += size


def test_moments_merged_over_chunks_equal_numpy():
    rng = np.random.default_rng(1)
    values = rng.lognormal(2.0, 1.5, 10_000)
    values[rng.random(10_000) < 0.2] = np.nan
    moments = Moments()
    for chunk in chunks_of(values, [1, 999, 4000, 0, 5000]):
        moments.update(chunk)
    present = values[~np.isnan(values)]
    summary = moments.summary()
    assert summary["count"] == len(present) and summary["missing"] == 10_000 - len(present)
    assert summary["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert summary["std"] == pytest.approx(present.std(), rel=1e-10)
    assert (summary["min"], summary["max"]) == (present.min(), present.max())


def test_row_sample_is_uniform_and_keeps_rows_whole():
    """A 5,000-row sample of a 200,000-row stream: both fields come from the same rows, and the
    sample's quantiles are those of the stream."""
    n = 200_000
    row = np.arange(n, dtype=np.float64)
    columns = {"a": row, "b": 2 * row + 1, "c": np.where(row % 4 == 0, row, np.nan)}
    sample = RowSample(["a", "b", "c"], seed=3, size=5_000)
    for start in range(0, n, 30_000):
        sample.update({name: values[start: start + 30_000] for name, values in columns.items()})
    a, b, c = sample.values("a"), sample.values("b"), sample.values("c")
    assert len(a) == 5_000 and len(np.unique(a)) == 5_000
    np.testing.assert_array_equal(b, 2 * a + 1)
    assert set(c) <= set(a) and np.all(c % 4 == 0) and 1_000 < len(c) < 1_500
    deciles = np.quantile(a, np.linspace(0.1, 0.9, 9)) / n
    np.testing.assert_allclose(deciles, np.linspace(0.1, 0.9, 9), atol=0.03)


def test_row_sample_keeps_every_row_of_a_small_stream():
    sample = RowSample(["x"], seed=0, size=100)
    sample.update({"x": np.array([3.0, np.nan, 1.0])})
    sample.update({"x": np.array([2.0])})
    assert sorted(sample.values("x")) == [1.0, 2.0, 3.0]


def test_bin_edges_quantile_width_and_a_field_absent_from_the_sample():
    moments = Moments()
    moments.update(np.arange(100, dtype=np.float64))
    assert bin_edges(moments, np.arange(100.0), 4, "quantile") == [25.0, 50.0, 75.0]
    assert bin_edges(moments, np.empty(0), 3, "width") == [33.0, 66.0]
    # no sampled row has a value: equal-width edges between min and max
    assert bin_edges(moments, np.empty(0), 3, "quantile") == [33.0, 66.0]
    assert bin_edges(Moments(), np.empty(0), 4, "quantile") == []
    assert bin_edges(moments, np.zeros(50), 4, "quantile") == []        # one value: one bin


def counts_per_bin(edges, values):
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def test_quantile_edges_keep_a_heavy_value_apart_and_share_the_rest():
    rng = np.random.default_rng(0)
    # a count field: zero in 90% of rows, long-tailed otherwise; plain quantile cuts keep 5 bins
    x = np.where(rng.random(100_000) < 0.9, 0.0, np.floor(rng.lognormal(3, 1.5, 100_000)) + 1)
    assert len(np.unique(np.quantile(x, np.linspace(0, 1, 33)[1:-1]))) + 1 == 5
    edges = quantile_edges(x, 32)
    per_bin = counts_per_bin(edges, x)
    assert len(per_bin) == 32 and edges[0] > 0                         # zero alone, 31 bins for the rest
    assert per_bin[0] == (x == 0).sum()
    rest = per_bin[1:]
    assert rest.max() < 2 * rest.mean() and rest.min() > rest.mean() / 2   # about equal counts


def test_quantile_edges_of_few_values_distinct_values_and_the_bucket_limit():
    assert quantile_edges(np.array([3.0, 1.0, 1.0, 2.0, 3.0]), 4) == [2.0, 3.0]   # each value its own bin
    y = np.random.default_rng(1).normal(size=64_000)                    # no ties: plain quantiles
    np.testing.assert_array_equal(counts_per_bin(quantile_edges(y, 32), y), np.full(32, 2_000))
    # many values each worth more than a bin's share, with light values between them: at most 8 bins
    z = np.concatenate([np.repeat(np.arange(0.0, 40.0, 2.0), 100), np.arange(1.0, 40.0, 2.0)])
    for buckets in (2, 8, 32):
        edges = quantile_edges(z, buckets)
        assert len(edges) + 1 <= buckets and edges == sorted(set(edges))
    assert len(quantile_edges(z, 32)) + 1 >= 20                          # yet close to the limit


def test_row_sample_is_the_same_uniform_sample_whatever_the_chunking():
    """The reservoir keeps ``size`` distinct rows of the stream, the same ones however the stream is
    cut into chunks (the keys follow the rows, not the chunks), spread evenly over the stream."""
    n, size = 50_000, 3_000
    samples = []
    for chunk in (1_000, 2_999, 7_919, n):
        sample = RowSample(["row"], seed=7, size=size)
        for start in range(0, n, chunk):
            sample.update({"row": np.arange(start, min(start + chunk, n), dtype=np.float64)})
        samples.append(np.sort(sample.values("row")))
    for other in samples[1:]:
        np.testing.assert_array_equal(other, samples[0])
    rows = samples[0]
    assert len(np.unique(rows)) == size and rows.min() >= 0 and rows.max() < n
    # uniform over [0, n): the mean is n/2 within 4 standard errors (n / sqrt(12 size) each) ...
    assert abs(rows.mean() - n / 2) < 4 * n / np.sqrt(12 * size)
    # ... and each tenth of the stream holds about a tenth of the sample
    per_tenth = np.bincount((rows * 10 // n).astype(int), minlength=10)
    assert per_tenth.min() > 0.8 * size / 10 and per_tenth.max() < 1.2 * size / 10