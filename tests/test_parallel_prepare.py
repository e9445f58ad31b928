"""Preparing on several processes: inputs of many files, shares of an input, tallies merged into
the one-process processor, and ``torchrun ... -m ctrkit prepare`` writing, to the byte, the folder
that one process writes. Also: preparation streams what it encodes (peak memory well below the
encoded arrays)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from ctrkit import FeatureSpec, Processor, Schema
from ctrkit.errors import DataError
from ctrkit.features.numeric_stats import RowSample
from ctrkit.io.readers import MappedSource, ParquetSource, TableSource, open_source

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SCHEMA = Schema([
    FeatureSpec("c", "categorical"),
    FeatureSpec("d", "categorical", min_count=2),
    FeatureSpec("x", "numeric", log=True),
    FeatureSpec("q", "numeric", buckets=16),
    FeatureSpec("s", "sequence", separator="|", share_embedding="c"),
], label="y")
SCHEMA_YAML = """label: y
fields:
  - {name: c, type: categorical}
  - {name: d, type: categorical, min_count: 2}
  - {name: x, type: numeric, log: true}
  - {name: q, type: numeric, buckets: 16}
  - {name: s, type: sequence, separator: "|", share_embedding: c}
"""


def table(n: int, seed: int) -> pa.Table:
    """Rows with a categorical, a long-tailed categorical, a numeric field with missing values, a
    binned numeric field, a token sequence of 0-4 items and a label that depends on ``c``."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 300, n)
    x = rng.lognormal(1, 1, n)
    x[rng.random(n) < 0.1] = np.nan
    lengths = rng.integers(0, 5, n)
    items = pa.array(rng.integers(0, 50, lengths.sum()).astype(str))
    seq = pa.compute.binary_join(pa.ListArray.from_arrays(np.concatenate([[0], np.cumsum(lengths)]), items), "|")
    y = (rng.random(n) < 1 / (1 + np.exp(-(c % 7 - 3) / 2))).astype(np.int64)
    return pa.table({"c": pa.compute.binary_join_element_wise("t", pa.array(c.astype(str)), ""),
                     "d": pa.array((rng.zipf(1.5, n) % 1000).astype(str)), "x": pa.array(x, from_pandas=True),
                     "q": rng.normal(size=n).round(2), "s": seq, "y": y})


def chunk_keys(source):
    """(file, first row, rows) of each chunk a source yields."""
    return [(c.part, c.first_row, c.batch.num_rows) for c in source.chunks()]


# ---------------------------------------------------------------- inputs of many files
def test_a_glob_reads_its_files_in_order_and_errors_name_the_file(tmp_path):
    for i in range(3):
        pa_csv.write_csv(table(50 + i, i), tmp_path / f"part-{i}.csv")
    source = open_source(str(tmp_path / "part-*.csv"))
    assert source.name == str(tmp_path / "part-*.csv") and source.columns == ["c", "d", "x", "q", "s", "y"]
    chunks = list(source.chunks())
    assert [(c.part, c.source, c.first_row, c.first_line) for c in chunks] == [
        (i, str(tmp_path / f"part-{i}.csv"), 0, 2) for i in range(3)]
    assert pa.Table.from_batches([c.batch for c in chunks]).num_rows == 50 + 51 + 52
    listed = open_source([str(tmp_path / "part-2.csv"), str(tmp_path / "part-0.csv")])
    assert [c.source for c in listed.chunks()] == [str(tmp_path / "part-2.csv"), str(tmp_path / "part-0.csv")]

    lines = (tmp_path / "part-1.csv").read_text().splitlines()
    lines[3] = "t1,5,oops," + lines[3].split(",", 3)[3]
    (tmp_path / "part-1.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"part-1\.csv, line 4, column 'x': expected a number"):
        Processor(SCHEMA).fit(str(tmp_path / "part-*.csv"))

    pa_csv.write_csv(table(5, 9).drop(["d"]), tmp_path / "part-3.csv")
    with pytest.raises(DataError, match=r"part-3\.csv: columns .* differ from those of .*part-0\.csv"):
        list(open_source(str(tmp_path / "part-[03].csv")).chunks())
    with pytest.raises(FileNotFoundError, match=r"day_\*\.parquet: no file matches"):
        open_source(str(tmp_path / "day_*.parquet"))


def _parquet_parts(folder: Path, sizes, row_group_size: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(sizes):
        pq.write_table(table(n, i), folder / f"day_{i}.parquet", row_group_size=row_group_size)
    return str(folder / "day_*.parquet")


@pytest.mark.parametrize("kind", ["parquet parts", "csv parts", "one parquet file", "table", "mapped", "one csv file"])
def test_shares_hold_every_row_once_in_the_chunks_of_one_read(tmp_path, kind):
    """However many processes share an input, their shares, in rank order, yield the very chunks
    one reader of the whole yields (so tallies merge exactly), and each takes a fair part."""
    if kind == "parquet parts":
        source = open_source(_parquet_parts(tmp_path, [900, 1700, 400, 2500], 300), chunk_rows=700)
    elif kind == "csv parts":
        for i in range(5):
            pa_csv.write_csv(table(200 * (i + 1), i), tmp_path / f"p{i}.csv")
        source = open_source(str(tmp_path / "p*.csv"), chunk_rows=128)
    elif kind in ("one parquet file", "mapped"):
        pq.write_table(table(5000, 1), tmp_path / "one.parquet", row_group_size=350)
        source = ParquetSource(str(tmp_path / "one.parquet"), chunk_rows=1000)
        if kind == "mapped":
            source = MappedSource(source, lambda b: b, source.columns)
    elif kind == "table":
        source = TableSource(pa.concat_tables([table(777, 1), table(1500, 2)]), chunk_rows=256)
    else:
        pa_csv.write_csv(table(3000, 3), tmp_path / "one.csv")
        source = open_source(str(tmp_path / "one.csv"), chunk_rows=500)
    whole = chunk_keys(source)
    rows = sum(n for _, _, n in whole)
    for world in (1, 2, 3, 4):
        shares = [chunk_keys(source.share(rank, world)) for rank in range(world)]
        assert [key for share in shares for key in share] == whole, f"{world} processes"
        if kind != "one csv file":   # one text file is not split: rank 0 reads it
            unit = 1000 if kind == "csv parts" else max(n for _, _, n in whole)   # a file, or a chunk
            assert all(abs(sum(n for _, _, n in share) - rows / world) <= unit for share in shares)


def test_tallies_of_shares_fit_the_processor_of_one_pass(tmp_path):
    """Every field kind, min_count, a shared vocabulary, missing values and quantile bins: merged
    tallies of 1-4 shares give the one-pass processor to the last bit."""
    pattern = _parquet_parts(tmp_path, [900, 1700, 400, 2500], 300)
    one = Processor(SCHEMA, seed=5).fit(pattern, chunk_rows=700)
    source = open_source(pattern, chunk_rows=700)
    for world in (1, 2, 3, 4):
        tallies = [Processor(SCHEMA, seed=5).tally(source.share(rank, world)) for rank in range(world)]
        merged = Processor(SCHEMA, seed=5).fit_tallies(tallies)
        assert json.dumps(merged.to_dict(), sort_keys=True) == json.dumps(one.to_dict(), sort_keys=True)
    assert one.state["d"].vocab and len(one.state["q"].edges) == 15


def test_row_samples_of_shares_merge_into_the_sample_of_the_whole():
    """The reservoir's keys hash each row's place, so samples of shares merged keep exactly the
    rows one sample of the whole keeps (here 500 of 20,000 rows in 4 parts)."""
    rows = {part: np.arange(5000, dtype=np.float64) + 10_000 * part for part in range(4)}
    whole = RowSample(["v"], seed=3, size=500)
    for part, values in rows.items():
        for start in range(0, 5000, 1200):
            whole.update({"v": values[start:start + 1200]}, start, part)
    shares = [RowSample(["v"], seed=3, size=500) for _ in range(2)]
    for part, values in rows.items():
        shares[part // 2].update({"v": values}, 0, part)
    shares[0].merge(shares[1])
    np.testing.assert_array_equal(np.sort(shares[0].values("v")), np.sort(whole.values("v")))
    assert len(np.unique(whole.values("v") // 10_000)) == 4     # every part is sampled


# ---------------------------------------------------------------- torchrun
def run(command, timeout=300):
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)


def prepare_command(out: Path, pattern: str, valid: Path, schema: Path, *extra: str):
    return [sys.executable, "-m", "ctrkit", "prepare", "--train", pattern, "--valid", str(valid),
            "--schema", str(schema), "--out", str(out), *extra]


def test_torchrun_prepare_writes_the_folder_that_one_process_writes(tmp_path):
    """`ctrkit prepare --nproc 2` (torchrun, 2 processes) on a glob of Parquet parts: the same
    processor.json and encoded arrays, byte for byte, and the same manifests, as one process; the
    train split is big enough that quantile bins come from a merged 200,000-row sample."""
    pattern = _parquet_parts(tmp_path / "parts", [70_000, 90_000, 20_000, 60_000], 40_000)
    pa_csv.write_csv(table(3000, 77), tmp_path / "valid.csv")
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA_YAML)
    one, two = tmp_path / "one", tmp_path / "two"
    done = run(prepare_command(one, pattern, tmp_path / "valid.csv", schema))
    assert done.returncode == 0, done.stderr[-3000:]
    done = run(prepare_command(two, pattern, tmp_path / "valid.csv", schema, "--nproc", "2"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "written to" in done.stdout and "by 2 processes" in done.stdout
    assert done.stdout.count("embedding table rows") == 1            # rank 0 alone prints
    files = sorted(str(p.relative_to(one)) for p in one.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(two)) for p in two.rglob("*") if p.is_file())   # no shards left
    for name in files:
        if name.endswith("manifest.json"):
            assert json.loads((one / name).read_text()) == json.loads((two / name).read_text()), name
        else:
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    manifest = json.loads((two / "train" / "manifest.json").read_text())
    assert manifest["rows"] == 240_000 and manifest["source"] == pattern

    # `ctrkit train` on the raw files under torchrun prepares them the same way, together
    done = run([sys.executable, "-m", "ctrkit", "train", "--train", pattern, "--valid", str(tmp_path / "valid.csv"),
                "--schema", str(schema), "--model", "lr", "--epochs", "1", "--batch-size", "4096", "--out",
                str(tmp_path / "run"), "--set", "train.threads=1", "--set", "train.progress=false", "--nproc", "2"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("processor.json", "train/cat.npy", "valid/seq.npy"):
        assert (tmp_path / "run" / "data" / name).read_bytes() == (one / name).read_bytes(), name


def test_a_bad_value_in_one_share_stops_every_process_with_its_place(tmp_path):
    """The last file (process 1's share) holds a bad value: both processes stop, the error names
    the file, row and column, and no process is left waiting for the other."""
    pattern = _parquet_parts(tmp_path / "parts", [3000, 3000], 1000)
    bad = table(3000, 1).set_column(2, "x", pa.array(["1.5"] * 2999 + ["many"]))
    pq.write_table(bad, tmp_path / "parts" / "day_1.parquet", row_group_size=1000)
    pa_csv.write_csv(table(300, 77), tmp_path / "valid.csv")
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA_YAML)
    done = run(prepare_command(tmp_path / "out", pattern, tmp_path / "valid.csv", schema, "--nproc", "2"), timeout=120)
    assert done.returncode == 2
    place = "day_1.parquet, row 2999, column 'x': expected a number (field 'x'), got 'many'"
    assert f"process 1 failed: {tmp_path}/parts/{place}" in done.stderr        # what rank 0 says
    assert "of 2 failed (see the error above)" in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "processor.json").exists()


# ---------------------------------------------------------------- memory
def test_prepare_streams_a_file_whose_encoded_arrays_exceed_its_memory(tmp_path):
    """A 600,000-row file whose history field is padded to 512 ids encodes to 1.23 GB; `ctrkit
    prepare` peaks below 45% of that (its chunks are encoded and written one at a time; before, the
    whole encoded split was held in memory, with a padded copy of each chunk on top)."""
    n = 600_000
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 4, n)
    items = pa.array(rng.integers(0, 1000, lengths.sum()).astype(str))
    hist = pa.compute.binary_join(pa.ListArray.from_arrays(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
                                                           items), "|")
    pa_csv.write_csv(pa.table({"item": pa.array(rng.integers(0, 500, n).astype(str)), "hist": hist,
                               "y": rng.integers(0, 2, n)}), tmp_path / "big.csv")
    (tmp_path / "schema.yaml").write_text("label: y\nfields:\n  - {name: item, type: categorical}\n"
                                          "  - {name: hist, type: sequence, separator: '|', max_len: 512, "
                                          "share_embedding: item}\n")
    script = ("import sys; from ctrkit.cli import main; code = main(sys.argv[1:]); "
              "print('peak_kb', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]); "
              "sys.exit(code)")
    out = tmp_path / "out"
    try:
        done = run([sys.executable, "-c", script, "prepare", "--train", str(tmp_path / "big.csv"),
                    "--schema", str(tmp_path / "schema.yaml"), "--out", str(out)], timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        encoded = sum(f.stat().st_size for f in (out / "train").glob("*.npy"))
        assert encoded > 1.2e9
        seq = np.load(out / "train" / "seq.npy", mmap_mode="r")
        assert seq.shape == (n, 1, 512) and int((seq[-1000:] > 0).sum()) == int(lengths[-1000:].sum())
        peak = int(done.stdout.split("peak_kb")[1].split()[0]) * 1024
        assert peak < 0.45 * encoded, f"peak {peak / 2**20:.0f} MiB for {encoded / 2**20:.0f} MiB encoded"
    finally:
        shutil.rmtree(out, ignore_errors=True)
