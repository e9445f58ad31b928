import numpy as np
import pytest

from ctrkit.features.numeric_stats import Moments, RowSample, bin_edges


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
    moments.update(np.arange(101, dtype=np.float64))
    assert bin_edges(moments, np.arange(101.0), 4, "quantile") == [25.0, 50.0, 75.0]
    assert bin_edges(moments, np.empty(0), 4, "width") == [25.0, 50.0, 75.0]
    # no sampled row has a value: equal-width edges between min and max
    assert bin_edges(moments, np.empty(0), 4, "quantile") == [25.0, 50.0, 75.0]
    assert bin_edges(Moments(), np.empty(0), 4, "quantile") == []
    assert bin_edges(moments, np.zeros(50), 4, "quantile") == [0.0]   # tied cut points merged
