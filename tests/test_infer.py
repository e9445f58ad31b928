import re
import subprocess
import sys

import pyarrow as pa

from conftest import write_text
from ctrkit import infer_schema


def test_infers_types_from_values_and_names(tmp_path):
    rows = ["user_id,age,income,city,flag,tags,clicked"]
    for i in range(40):
        rows.append(f"{i},{20 + i},{1000.5 + i * 3},c{i % 7},{i % 2},{'a|b' if i % 3 else 'c'},{i % 2}")
    path = write_text(tmp_path / "d.csv", "\n".join(rows) + "\n")
    schema = infer_schema(str(path), label="clicked")
    types = {f.name: f.type for f in schema.fields}
    assert types == {"user_id": "categorical", "age": "numeric", "income": "numeric", "city": "categorical",
                     "flag": "categorical", "tags": "sequence"}
    assert schema["tags"].separator == "|"
    assert schema.label == "clicked"
    # numeric fields are cut into 32 quantile bins unless asked to stay numbers
    assert [(f.name, f.buckets, f.bucketing) for f in schema.fields if f.type == "numeric"] == [
        ("age", 32, "quantile"), ("income", 32, "quantile")]
    assert all(f.buckets is None for f in infer_schema(str(path), label="clicked", numeric_buckets=None).fields)


def test_ctrkit_train_says_which_inferred_numeric_fields_it_binned(tmp_path):
    rows = ["age,city,clicked"] + [f"{20 + i % 50},c{i % 7},{(i * 7) % 3 == 0:d}" for i in range(300)]
    path = write_text(tmp_path / "d.csv", "\n".join(rows) + "\n")
    done = subprocess.run([sys.executable, "-m", "ctrkit", "prepare", "--train", str(path), "--label", "clicked",
                           "--out", str(tmp_path / "p")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "numeric fields cut into 32 quantile bins, what measured best on Adult and synthetic data: age" in done.stdout
    assert re.search(r"^age\s+numeric, binned\s+age\s+buckets=32$", done.stdout, re.M), done.stdout


def test_exclude_and_typed_tables():
    table = pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5], "c": ["a", "b", "a"], "y": [0, 1, 0]})
    schema = infer_schema(table, label="y", exclude=["id"])
    assert [(f.name, f.type) for f in schema.fields] == [("x", "numeric"), ("c", "categorical")]


def test_integer_codes_are_categorical_and_counts_numeric(tmp_path):
    """Avazu's integer-coded fields (C1, banner_pos, device_type, C14..) and hashed ids are codes,
    not quantities; Criteo-style counts (I1) and ages stay numeric; missing spellings do not make
    a numeric column text."""
    rows = ["C1,C14,banner_pos,device_type,site_hash,I1,age,price,click"]
    for i in range(60):
        price = ("NA", " null ", "-", "n/a")[i % 4] if i % 5 == 0 else f"{i * 1.5}"
        rows.append(f"{1005 + i % 3},{15706 + i * 7},{i % 3},{i % 4},{2**40 + i},{i * 3},{18 + i},{price},{i % 2}")
    schema = infer_schema(str(write_text(tmp_path / "a.csv", "\n".join(rows) + "\n")), label="click")
    types = {f.name: f.type for f in schema.fields}
    assert types == {"C1": "categorical", "C14": "categorical", "banner_pos": "categorical",
                     "device_type": "categorical", "site_hash": "categorical", "I1": "numeric", "age": "numeric",
                     "price": "numeric"}


def test_list_columns_are_sequences(tmp_path):
    import pyarrow.parquet as pq

    table = pa.table({"tags": pa.array([["a", "b"], [], None, ["c"]] * 5, pa.list_(pa.string())),
                      "ids": pa.array([[1, 2], [3], [], None] * 5, pa.list_(pa.int64())), "y": [0, 1] * 10})
    pq.write_table(table, tmp_path / "t.parquet")
    schema = infer_schema(str(tmp_path / "t.parquet"), label="y")
    assert [(f.name, f.type) for f in schema.fields] == [("tags", "sequence"), ("ids", "sequence")]
