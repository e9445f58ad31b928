import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write_text
from ctrkit import DataError, Processor, Schema
from ctrkit.io import CsvSource, LibsvmSource, ParquetSource, TableSource, open_source

ROWS = [("a", "1.5", "0"), ("b", "", "1"), ("a", "3", "1")]


def expected_table():
    return {"c": ["a", "b", "a"], "x": ["1.5", None, "3"], "y": ["0", "1", "1"]}


def read(source):
    return source.read_all().to_pydict()


def test_csv_with_header(tmp_path):
    path = write_text(tmp_path / "d.csv", "c,x,y\n" + "".join(",".join(r) + "\n" for r in ROWS))
    src = open_source(str(path))
    assert isinstance(src, CsvSource) and src.columns == ["c", "x", "y"]
    assert read(src) == expected_table()


def test_tsv_without_header_and_gzip(tmp_path):
    text = "".join("\t".join(r) + "\n" for r in ROWS)
    path = tmp_path / "d.tsv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    src = open_source(str(path), header=False, column_names=["c", "x", "y"])
    assert src.sep == "\t"
    assert read(src) == expected_table()


def test_csv_without_header_needs_names(tmp_path):
    path = write_text(tmp_path / "d.csv", "a,1,0\n")
    with pytest.raises(ValueError, match="needs column_names"):
        CsvSource(str(path), header=False)


def test_comment_lines_are_skipped_and_lines_stay_right(tmp_path):
    path = write_text(tmp_path / "d.csv", "# a comment\nc,x,y\na,1,0\nb,q,1\n")
    schema = Schema.from_columns("y", ["c"], ["x"])
    with pytest.raises(DataError, match="line 4, column 'x'"):
        Processor(schema).fit(CsvSource(str(path), skip_lines=1))


def test_parquet(tmp_path):
    table = pa.table({"c": ["a", "b", "a"], "x": [1.5, None, 3.0], "y": [0, 1, 1]})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=2)
    src = open_source(str(tmp_path / "d.parquet"), chunk_rows=2)
    assert isinstance(src, ParquetSource)
    assert [c.first_row for c in src.chunks()] == [0, 2]
    proc = Processor(Schema.from_columns("y", ["c"], ["x"])).fit(src)
    assert proc.state["x"].count == 2 and proc.vocabulary("c") == ["a", "b"]


def test_pandas_and_polars_give_the_same_encoding():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    data = {"c": ["a", "b", "a", None], "x": [1.0, 2.0, None, 4.0], "y": [0, 1, 1, 0]}
    schema = Schema.from_columns("y", ["c"], ["x"])
    arrow = Processor(schema).fit(pa.table(data))
    for frame in (pd.DataFrame(data), pl.DataFrame(data)):
        src = open_source(frame)
        assert isinstance(src, TableSource)
        proc = Processor(schema).fit(frame)
        assert proc.state == arrow.state
        np.testing.assert_array_equal(proc.transform(frame).cat, arrow.transform(pa.table(data)).cat)


def test_unsupported_object():
    with pytest.raises(TypeError, match="expected an Arrow table, a pandas or a polars DataFrame"):
        open_source([1, 2, 3])


def test_libsvm_one_feature_per_field(tmp_path):
    path = write_text(tmp_path / "d.libfm", "1 3:1 10:1\r\n-1 4:1 11:1\r\n1 3:1 12:1\r\n")
    src = open_source(str(path), field_names=["user", "item"])
    assert isinstance(src, LibsvmSource) and src.columns == ["label", "user", "item"]
    assert read(src) == {"label": ["1", "-1", "1"], "user": ["3", "4", "3"], "item": ["10", "11", "12"]}


def test_libsvm_values(tmp_path):
    path = write_text(tmp_path / "d.libsvm", "1 3:0.5 10:1\n0 4:2 11:1\n")
    with pytest.raises(DataError, match=r"d.libsvm, line 1, column 'f1': feature value '0.5' is not 1"):
        read(LibsvmSource(str(path)))
    table = read(LibsvmSource(str(path), values=True))
    assert table["f1"] == ["3", "4"] and table["f1_value"] == ["0.5", "2"]


def test_libsvm_ragged_and_malformed(tmp_path):
    ragged = write_text(tmp_path / "r.libfm", "1 3:1 10:1\n0 4:1\n")
    with pytest.raises(DataError, match=r"r.libfm, line 2: expected 3 fields"):
        read(LibsvmSource(str(ragged)))
    malformed = write_text(tmp_path / "m.libfm", "1 3:1 10:1\n0 4:1 11\n")
    with pytest.raises(DataError, match=r"m.libfm, line 2, column 'f2': expected idx:val, got '11'"):
        read(LibsvmSource(str(malformed)))


def test_map_threads_keeps_order_and_raises_the_first_error():
    from ctrkit.io.threads import map_threads
    assert map_threads(lambda x: x * x, range(40)) == [x * x for x in range(40)]

    def fail_on(x):
        if x in (5, 9):
            raise DataError(f"bad column {x}", source="x.csv")
        return x
    with pytest.raises(DataError, match="bad column 5"):
        map_threads(fail_on, range(12))


def test_prefetched_keeps_order_raises_in_place_and_stops_early():
    import threading

    from ctrkit.io.prefetch import prefetched
    assert list(prefetched(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise DataError("bad value", source="x.csv", line=7)
    got = []
    with pytest.raises(DataError, match="x.csv.*line 7"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1]
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1
    for item in prefetched(endless()):
        if item == 3:
            break
    assert 3 <= len(produced) <= 6                                   # stopped a step or two ahead
    assert not any(t.name == "ctrkit-prefetch" for t in threading.enumerate())


def test_bad_value_in_a_later_chunk_names_its_line(tmp_path):
    """Chunks are read ahead in a thread: an error in the third chunk still names its line."""
    lines = ["x,y"] + [f"{i},1" for i in range(10)] + ["oops,1"] + [f"{i},0" for i in range(5)]
    path = write_text(tmp_path / "late.csv", "\n".join(lines) + "\n")
    schema = Schema.from_dict({"label": "y", "fields": [{"name": "x", "type": "numeric"}]})
    with pytest.raises(DataError, match=r"line 12.*column 'x'|column 'x'.*line 12"):
        Processor(schema).fit(open_source(path, chunk_rows=4, block_bytes=16))


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfc,x,y\na,1.5,0\nb,,1\na,3,1\n")
    assert read(open_source(str(path))) == expected_table()
    path.write_bytes(b"\xef\xbb\xbfa,1.5,0\nb,,1\na,3,1\n")
    assert read(open_source(str(path), header=False, column_names=["c", "x", "y"])) == expected_table()


def test_other_encodings_are_read_when_named_and_named_when_not(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("c,x,y\na,1.5,0\ncaf\u00e9,,1\na,3,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv, line 3: not valid utf-8 text \(byte 0xe9 at character 4\); "
                                        r"give the file's encoding, e.g. --encoding latin-1"):
        read(open_source(str(path)))
    assert read(open_source(str(path), encoding="latin-1"))["c"] == ["a", "caf\u00e9", "a"]
    with pytest.raises(DataError, match="unknown text encoding 'klingon'"):
        open_source(str(path), encoding="klingon")


def test_missing_value_spellings_in_numeric_fields(tmp_path):
    """NA, NaN, null, n/a, '-' (with blanks around) are missing by default; ``missing_values`` in
    the schema replaces the set; anything else is still a bad value."""
    values = ["1", " NA ", "NaN", "null", "n/a", "-", "2", " 3 "]
    path = write_text(tmp_path / "na.csv", "x,y\n" + "".join(f"{v},{i % 2}\n" for i, v in enumerate(values)))
    schema = Schema.from_dict({"label": "y", "fields": [{"name": "x", "type": "numeric", "scaler": "none"}]})
    encoded = Processor(schema).fit_transform(str(path))
    assert encoded.num[:, 0].tolist() == [1, 0, 0, 0, 0, 0, 2, 3]          # missing filled with 0
    strict = Schema.from_dict({"label": "y", "missing_values": ["NA"],
                               "fields": [{"name": "x", "type": "numeric", "scaler": "none"}]})
    assert strict.to_dict()["missing_values"] == ["NA"]
    with pytest.raises(DataError, match=r"na.csv, line 4, column 'x': expected a number \(field 'x'\), got 'NaN'"):
        Processor(strict).fit_transform(str(path))


def test_list_columns_encode_like_separated_text(tmp_path):
    """A Parquet list<string> (or list<int>) column is a sequence field: the same ids as the same
    tokens written 'a|b' in a CSV."""
    lists = [["a", "b"], ["c"], [], None, ["a", "c", "d"]] * 4
    pq.write_table(pa.table({"tags": pa.array(lists, pa.list_(pa.string())), "y": [0, 1] * 10}),
                   tmp_path / "l.parquet")
    text = ["|".join(v) if v else "" for v in lists]
    pq.write_table(pa.table({"tags": text, "y": [0, 1] * 10}), tmp_path / "t.parquet")
    schema = Schema.from_dict({"label": "y", "fields": [{"name": "tags", "type": "sequence"}]})
    a = Processor(schema).fit_transform(str(tmp_path / "l.parquet"))
    b = Processor(schema).fit_transform(str(tmp_path / "t.parquet"))
    assert a.seq.shape == (20, 1, 3) and (a.seq == b.seq).all() and (a.seq[0, 0, :2] > 0).all()
