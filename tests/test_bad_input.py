"""Each kind of bad input gets an error naming where it is and what was expected."""
import gc
import subprocess
import sys

import pyarrow as pa
import pytest

from conftest import write_text
from ctrkit import DataError, FeatureSpec, Processor, Schema, SchemaError
from ctrkit.io import CsvSource

SCHEMA = Schema.from_columns("y", ["c"], ["x"])


def test_missing_column(tmp_path):
    path = write_text(tmp_path / "d.csv", "c,y\na,1\n")
    with pytest.raises(DataError) as err:
        Processor(SCHEMA).fit(str(path))
    assert "d.csv" in str(err.value) and "column 'x'" in str(err.value) and "missing column" in str(err.value)


def test_missing_label_column(tmp_path):
    path = write_text(tmp_path / "d.csv", "c,x\na,1\n")
    proc = Processor(SCHEMA).fit(str(path))
    with pytest.raises(DataError, match=r"d.csv, column 'y': missing label column"):
        proc.transform(str(path))


def test_label_that_cannot_be_mapped(tmp_path):
    path = write_text(tmp_path / "d.csv", "c,x,y\na,1,0\nb,2,>50K\n")
    with pytest.raises(DataError) as err:   # fitting reads the labels too: bad rows never count
        Processor(SCHEMA).fit(str(path))
    assert "d.csv, line 3, column 'y'" in str(err.value) and "'>50K'" in str(err.value)
    assert "label_map" in str(err.value)
    mapped = Schema.from_columns("y", ["c"], ["x"], label_map={">50K": 1, "0": 0})
    assert Processor(mapped).fit(str(path)).transform(str(path)).label.tolist() == [0.0, 1.0]
    wrong_map = Schema.from_columns("y", ["c"], ["x"], label_map={"<=50K": 0, ">50K": 1})
    with pytest.raises(DataError, match=r"line 2, column 'y': expected label one of \['<=50K', '>50K'\]"):
        Processor(wrong_map).fit(str(path)).transform(str(path))


def test_empty_file(tmp_path):
    path = write_text(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match=r"empty.csv, line 1: the file is empty"):
        Processor(SCHEMA).fit(str(path))
    header_only = write_text(tmp_path / "header.csv", "c,x,y\n")
    with pytest.raises(DataError, match=r"header.csv: the file has no data rows"):
        Processor(SCHEMA).fit(str(header_only))


def test_ragged_line_names_line(tmp_path):
    path = write_text(tmp_path / "r.csv", "c,x,y\na,1,0\nb,2\nc,3,1\n")
    with pytest.raises(DataError) as err:
        Processor(SCHEMA).fit(str(path))
    assert "r.csv, line 3" in str(err.value) and "expected 3 fields" in str(err.value) and "got 2" in str(err.value)


def test_ragged_lines_skipped_on_request_are_counted(tmp_path):
    path = write_text(tmp_path / "r.csv", "c,x,y\na,1,0\nb,2\nc,3,1\nd,4,1,extra\n")
    proc = Processor(SCHEMA).fit(str(path), on_bad_rows="skip")
    assert proc.fit_rows == 2 and proc.fit_skipped == 2
    out = proc.transform(str(path), on_bad_rows="skip")
    assert len(out) == 2 and out.info["skipped"] == 2


def test_non_numeric_value(tmp_path):
    rows = "".join(f"a,{i},0\n" for i in range(50))
    path = write_text(tmp_path / "n.csv", "c,x,y\n" + rows + "b,abc,1\nc,5,1\n")
    with pytest.raises(DataError) as err:
        Processor(SCHEMA).fit(str(path))
    assert "n.csv, line 52, column 'x'" in str(err.value) and "expected a number" in str(err.value)
    assert "'abc'" in str(err.value)
    # the line is right in later chunks too
    with pytest.raises(DataError, match="line 52"):
        Processor(SCHEMA).fit(str(path), chunk_rows=8, block_bytes=64)
    proc = Processor(SCHEMA).fit(str(path), on_bad_rows="skip")
    assert proc.fit_rows == 51 and proc.fit_skipped == 1
    out = proc.transform(str(path), on_bad_rows="skip")
    assert len(out) == 51 and out.info["skipped"] == 1


def test_non_numeric_value_in_dataframe_names_row():
    df = pa.table({"c": ["a", "b"], "x": ["1", "oops"], "y": [0, 1]})
    with pytest.raises(DataError, match=r"<DataFrame>, row 1, column 'x': expected a number"):
        Processor(SCHEMA).fit(df)


def test_infinite_value_rejected():
    with pytest.raises(DataError, match="expected a number"):
        Processor(SCHEMA).fit(pa.table({"c": ["a"], "x": [float("inf")], "y": [0]}))


def test_duplicate_field_names_and_columns(tmp_path):
    with pytest.raises(SchemaError, match="duplicate field name 'c'"):
        Schema(fields=[FeatureSpec("c", "categorical"), FeatureSpec("c", "categorical")], label="y")
    path = write_text(tmp_path / "dup.csv", "c,c,y\na,b,1\n")
    with pytest.raises(DataError, match=r"dup.csv, line 1: duplicate column name"):
        CsvSource(str(path)).columns


def test_unknown_schema_option():
    with pytest.raises(SchemaError, match=r"field 'c': unknown option\(s\) 'bukets'"):
        Schema.from_dict({"label": "y", "fields": [{"name": "c", "type": "numeric", "bukets": 3}]})


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    path = write_text(tmp_path / "bad.csv", "c,x,y\na,1,0\nb,zz,1\n")
    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", "prepare", "--train", str(path), "--label", "y",
                          "--categorical", "c", "--numeric", "x", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "bad.csv, line 3, column 'x': expected a number" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_folder_given_as_a_data_file_is_named(tmp_path):
    from ctrkit.io import open_source

    with pytest.raises(DataError, match=f"{tmp_path}: is a folder; expected a data file"):
        open_source(tmp_path)
    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", "schema", "--data", str(tmp_path), "--label", "y"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "is a folder" in run.stderr and "Traceback" not in run.stderr


def test_a_read_that_fails_or_stops_early_leaves_no_row_handler_to_arrows_threads(tmp_path):
    """An Arrow thread that drops the last reference to the Python row handler while Python shuts
    down aborts the process ("terminate called without an active exception"; CI saw exit -6 after a
    ragged line's error). A read that ends in any way waits until Arrow dropped the handler."""
    from ctrkit.io.readers.text import _RowHandler

    def handlers() -> int:
        return sum(type(o) is _RowHandler for o in gc.get_objects())

    ragged = write_text(tmp_path / "ragged.csv", "y,a\n1,p\n0\n1,q\n")
    with pytest.raises(DataError, match="line 3"):
        list(CsvSource(str(ragged)).chunks())
    assert handlers() == 0
    rows = write_text(tmp_path / "rows.csv", "y,a\n" + "".join(f"{i % 2},{'pq'[i % 2]}\n" for i in range(50_000)))
    chunks = CsvSource(str(rows), on_bad_rows="skip", block_bytes=1 << 12, chunk_rows=100).chunks()
    assert next(chunks).batch.num_rows == 100
    chunks.close()                        # stopped with blocks still being read ahead
    assert handlers() == 0


def test_skip_bad_rows_skips_bad_values_as_well_as_ragged_lines(tmp_path):
    rows = ["y,a,x"] + [f"{i % 2},{'pq'[i % 2]},{i}" for i in range(40)]
    rows[5] = "0,q,abc"                   # a value that is not a number
    rows[9] = "1,p"                       # a line with a field missing
    data = write_text(tmp_path / "rows.csv", "\n".join(rows) + "\n")
    base = [sys.executable, "-m", "ctrkit.cli", "prepare", "--train", str(data), "--label", "y", "--categorical", "a",
            "--numeric", "x"]
    run = subprocess.run(base + ["--out", str(tmp_path / "strict")], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "line" in run.stderr
    run = subprocess.run(base + ["--out", str(tmp_path / "p"), "--skip-bad-rows"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    train = [line.split() for line in run.stdout.splitlines() if line.startswith("train ")][0]
    assert train[1] == "38" and train[-1] == "2"             # 40 rows, 2 skipped: one of each kind
    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", "train", "--train", str(data), "--label", "y",
                          "--categorical", "a", "--numeric", "x", "--model", "lr", "--epochs", "1", "--skip-bad-rows",
                          "--set", "train.progress=false", "--out", str(tmp_path / "run")], capture_output=True,
                         text=True)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
