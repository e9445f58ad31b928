"""The prepare / schema / datasets commands, run as real processes."""
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from conftest import write_text
from ctrkit.datasets import PreparedDataset


def ctrkit(*args, check=True):
    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert run.returncode == 0, run.stderr
    return run


def test_prepare_builtin_adult(tmp_path):
    run = ctrkit("prepare", "--dataset", "adult", "--out", tmp_path / "adult")
    assert "train     26,049" in run.stdout and "test      16,281" in run.stdout
    assert "native_country" in run.stdout
    prepared = PreparedDataset.load(str(tmp_path / "adult"))
    assert prepared.splits["valid"].cat.shape == (6512, 14)       # numeric fields in bins by default
    manifest = json.loads((tmp_path / "adult" / "train" / "manifest.json").read_text())
    assert manifest["rows"] == 26049 and manifest["fingerprint"] == prepared.processor.fingerprint()


def test_prepare_user_csv_with_inferred_schema(tmp_path):
    lines = ["clicked,age,city,tags"] + [f"{i % 2},{20 + i},c{i % 3},a|b" for i in range(30)]
    train = write_text(tmp_path / "train.csv", "\n".join(lines) + "\n")
    run = ctrkit("prepare", "--train", train, "--label", "clicked", "--out", tmp_path / "out")
    assert "schema inferred from the data" in run.stdout and "sequence" in run.stdout
    prepared = PreparedDataset.load(str(tmp_path / "out"))
    assert prepared.splits["train"].seq.shape == (30, 1, 2)


def test_prepare_user_parquet_with_flags_and_label_map(tmp_path):
    table = pa.table({"y": ["yes", "no", "no", "yes"], "c": ["a", "b", "a", "c"], "x": [1.0, 2.0, 3.0, 4.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    ctrkit("prepare", "--train", tmp_path / "t.parquet", "--test", tmp_path / "t.parquet", "--label", "y",
           "--categorical", "c", "--numeric", "x", "--label-map", "yes=1,no=0", "--out", tmp_path / "out")
    prepared = PreparedDataset.load(str(tmp_path / "out"))
    np.testing.assert_array_equal(prepared.splits["test"].label, [1, 0, 0, 1])


def test_schema_command_prints_editable_yaml(tmp_path):
    train = write_text(tmp_path / "d.tsv", "y\tuser_id\tprice\n1\t7\t2.5\n0\t8\t3.5\n")
    run = ctrkit("schema", "--data", train, "--label", "y")
    schema = yaml.safe_load(run.stdout)
    assert schema["label"] == "y"
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [("user_id", "categorical"), ("price", "numeric")]
    (tmp_path / "schema.yaml").write_text(run.stdout)
    ctrkit("prepare", "--train", train, "--schema", tmp_path / "schema.yaml", "--out", tmp_path / "out")


def test_datasets_lists_builtins():
    out = ctrkit("datasets").stdout
    for name in ("adult", "synthetic", "movielens", "criteo", "avazu", "frappe"):
        assert name in out


def test_dataset_needing_files_says_so(tmp_path):
    run = ctrkit("prepare", "--dataset", "criteo", "--out", tmp_path / "o", check=False)
    assert run.returncode == 2 and "needs your copy of its files: --train FILE" in run.stderr
