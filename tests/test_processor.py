import json

import numpy as np
import pyarrow as pa
import pytest

from ctrkit import FeatureSpec, Processor, Schema
from ctrkit.errors import DataError
from ctrkit.features.state import state_to_dict


def table(**cols):
    return pa.table({k: pa.array(v) for k, v in cols.items()})


def test_vocabulary_min_count_oov_and_missing_ids():
    schema = Schema(fields=[FeatureSpec("c", "categorical", min_count=2, missing=["?"])], label="y")
    train = table(c=["a", "a", "b", "b", "b", "rare", None, "?"], y=[0, 1, 0, 1, 0, 1, 0, 1])
    proc = Processor(schema).fit(train)
    st = proc.state["c"]
    assert st.vocab == ["b", "a"]            # most frequent first; 'rare' below min_count
    assert st.offset == 1 and st.size == 4
    out = proc.transform(table(c=["a", "b", "rare", "never", None, "?"], y=[0] * 6))
    # offset+0 = OOV, offset+1 = missing, offset+2.. = tokens
    assert out.cat[:, 0].tolist() == [4, 3, 1, 1, 2, 2]
    assert proc.vocab_size == 5


def test_offsets_put_fields_in_one_table_and_sharing_reuses_a_block():
    schema = Schema(fields=[
        FeatureSpec("item", "categorical"),
        FeatureSpec("user", "categorical"),
        FeatureSpec("history", "sequence", separator="|", share_embedding="item"),
    ], label="y")
    train = table(item=["i1", "i2", "i1"], user=["u1", "u1", "u2"], history=["i3|i1", "", None], y=[0, 1, 0])
    proc = Processor(schema).fit(train)
    assert proc.state["item"].offset == 1
    # the shared vocabulary counts tokens of both columns: i1 x3, i2 x1, i3 x1
    assert proc.vocabulary("history") == ["i1", "i2", "i3"]
    assert proc.state["user"].offset == 1 + 2 + 3
    assert proc.state["history"].offset == proc.state["item"].offset
    out = proc.transform(train)
    assert out.seq[0, 0].tolist() == [5, 3]     # i3, i1 in the item block
    assert out.seq[1, 0].tolist() == [0, 0] and out.seq[2, 0].tolist() == [0, 0]
    slots = {s["name"]: s for s in proc.field_slots()}
    assert slots["history"]["owner"] == "item" and slots["history"]["max_len"] == 2


def test_sequence_padding_truncation_and_missing_tokens():
    schema = Schema(fields=[FeatureSpec("s", "sequence", separator="^", max_len=3, missing=["-"])], label="y")
    train = table(s=["a^b^c^d^e", "a", "", None, "b^-^a"], y=[0, 1, 0, 1, 0])
    proc = Processor(schema).fit(train)
    ids = {t: proc.state["s"].offset + 2 + i for i, t in enumerate(proc.vocabulary("s"))}
    out = proc.transform(train)
    assert out.seq.shape == (5, 1, 3)
    assert out.seq[0, 0].tolist() == [ids["c"], ids["d"], ids["e"]]  # keeps the last max_len
    assert out.seq[1, 0].tolist() == [ids["a"], 0, 0]
    assert out.seq[2, 0].tolist() == [0, 0, 0] and out.seq[3, 0].tolist() == [0, 0, 0]
    assert out.seq[4, 0].tolist() == [ids["b"], ids["a"], 0]          # '-' dropped
    oov = proc.transform(table(s=["zzz^a"], y=[1]))
    assert oov.seq[0, 0].tolist() == [proc.state["s"].offset, ids["a"], 0]


def test_max_len_defaults_to_longest_training_sequence():
    schema = Schema(fields=[FeatureSpec("s", "sequence")], label="y")
    proc = Processor(schema).fit(table(s=["a|b|c", "a"], y=[0, 1]))
    assert proc.state["s"].max_len == 3


def test_numeric_scaling_fill_and_log():
    schema = Schema(fields=[
        FeatureSpec("std", "numeric"),
        FeatureSpec("mm", "numeric", scaler="minmax", fill=5.0),
        FeatureSpec("raw", "numeric", scaler="none", log=True),
    ], label="y")
    train = table(std=[1.0, 2.0, 3.0, None], mm=["0", "10", "", "5"], raw=[0.0, 9.0, -9.0, 1.0], y=[0, 1, 0, 1])
    proc = Processor(schema).fit(train)
    st = proc.state["std"]
    assert st.mean == pytest.approx(2.0) and st.std == pytest.approx(np.std([1, 2, 3]))
    assert st.missing == 1
    out = proc.transform(train)
    np.testing.assert_allclose(out.num[:, 0], [(v - 2) / np.std([1, 2, 3]) for v in (1, 2, 3, 0)], rtol=1e-6)
    np.testing.assert_allclose(out.num[:, 1], [0.0, 1.0, 0.5, 0.5], rtol=1e-6)   # '' filled with 5
    np.testing.assert_allclose(out.num[:, 2], [0, np.log(10), -np.log(10), np.log(2)], rtol=1e-6)


def test_bucketing_quantile_and_width():
    values = np.arange(100, dtype=float)
    schema = Schema(fields=[FeatureSpec("q", "numeric", buckets=4), FeatureSpec("w", "numeric", buckets=4,
                                                                                  bucketing="width")], label="y")
    proc = Processor(schema).fit(table(q=values, w=values, y=np.zeros(100, int)))
    assert proc.state["q"].edges == [25.0, 50.0, 75.0]            # cuts at sampled values
    assert proc.state["w"].edges == pytest.approx([24.75, 49.5, 74.25])
    out = proc.transform(table(q=[0.0, 30.0, 99.0, None, 1e9], w=[0.0, 30.0, 99.0, None, -5.0], y=[0] * 5))
    off = proc.state["q"].offset
    assert out.cat[:, 0].tolist() == [off + 2, off + 3, off + 5, off + 1, off + 5]
    offw = proc.state["w"].offset
    assert out.cat[:, 1].tolist() == [offw + 2, offw + 3, offw + 5, offw + 1, offw + 2]
    assert proc.state["q"].size == 2 + 4 and out.num.shape == (5, 0)
    skewed = Processor(Schema(fields=[FeatureSpec("q", "numeric", buckets=10)], label="y")).fit(
        table(q=[0.0] * 90 + list(range(10)), y=[0] * 100))
    assert skewed.state["q"].edges == [float(v) for v in range(1, 10)]   # 10 values: one bin each, not 2


def test_save_load_round_trip_gives_identical_arrays(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    data = table(
        c=rng.choice(["a", "b", "c", "d", None], n).tolist(),
        x=rng.normal(size=n),
        b=rng.exponential(size=n),
        s=["|".join(rng.choice(list("pqrst"), rng.integers(0, 5))) for _ in range(n)],
        y=rng.integers(0, 2, n),
    )
    schema = Schema(fields=[FeatureSpec("c", "categorical", min_count=3), FeatureSpec("x", "numeric"),
                            FeatureSpec("b", "numeric", buckets=7), FeatureSpec("s", "sequence", pooling="sum")],
                    label="y")
    proc = Processor(schema).fit(data)
    path = tmp_path / "processor.json"
    proc.save(str(path))
    assert json.loads(path.read_text())["format"] == "ctrkit.processor/1"
    again = Processor.load(str(path))
    a, b = proc.transform(data), again.transform(data)
    for name in ("cat", "num", "seq", "label"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert again.fingerprint() == proc.fingerprint()
    assert again.field_slots() == proc.field_slots()


def test_chunked_streaming_equals_in_memory(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    path = tmp_path / "d.csv"
    pa.csv.write_csv(table(c=rng.choice(list("abcdefgh"), n).tolist(), x=rng.normal(size=n).round(3),
                           y=rng.integers(0, 2, n)), str(path))
    schema = Schema.from_columns("y", ["c"], ["x"])
    whole = Processor(schema).fit(str(path))
    chunked = Processor(schema).fit(str(path), chunk_rows=100, block_bytes=1024)
    assert chunked.state["c"] == whole.state["c"]
    assert state_to_dict(chunked.state["x"]) == pytest.approx(state_to_dict(whole.state["x"]), rel=1e-12)
    assert whole.fit_rows == n
    rows = chunked.transform_to(str(path), str(tmp_path / "split"), chunk_rows=128, block_bytes=2048)
    assert rows == n
    from ctrkit.io import read_split
    streamed, direct = read_split(str(tmp_path / "split")), whole.transform(str(path))
    for name in ("cat", "num", "label"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(direct, name))
    assert streamed.info["fingerprint"] == chunked.fingerprint()


def test_unlabelled_data_for_prediction():
    schema = Schema.from_columns("y", ["c"])
    proc = Processor(schema).fit(table(c=["a", "b"], y=[0, 1]))
    out = proc.transform(table(c=["b"]), require_label=False)
    assert out.label is None and out.cat.tolist() == [[4]]  # a=3, b=4 (ties ordered by token)


def test_typed_dataframe_columns_are_encoded_as_tokens():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"user": [10, 20, 10], "flag": [True, False, True], "y": [1, 0, 1]})
    proc = Processor(Schema.from_columns("y", ["user", "flag"])).fit(df)
    assert proc.vocabulary("user") == ["10", "20"]
    assert proc.transform(df).cat[:, 0].tolist() == [3, 4, 3]


def test_pretrained_vectors_align_with_vocabulary(tmp_path):
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "vec.npy", vectors)
    (tmp_path / "keys.txt").write_text("apple\nbanana\ncherry\ndate\n")
    schema = Schema(fields=[FeatureSpec("fruit", "categorical", pretrained=str(tmp_path / "vec.npy"),
                                        pretrained_keys=str(tmp_path / "keys.txt"), freeze=True)], label="y")
    proc = Processor(schema).fit(table(fruit=["banana", "banana", "fig"], y=[0, 1, 0]))
    # pretrained keys join the vocabulary even when unseen in the training rows
    assert proc.vocabulary("fruit") == ["banana", "fig", "apple", "cherry", "date"]
    matrix, found = proc.pretrained_vectors("fruit")
    assert matrix.shape == (2 + 5, 3)
    np.testing.assert_array_equal(matrix[:2], 0)            # OOV and missing rows
    np.testing.assert_array_equal(matrix[2], vectors[1])     # banana
    np.testing.assert_array_equal(matrix[3], 0)              # fig has no vector
    np.testing.assert_array_equal(matrix[4], vectors[0])     # apple
    assert found.tolist() == [False, False, True, False, True, True, True]


def test_fit_transform_equals_fit_then_transform(tmp_path):
    """One read (dictionary codes kept from the counting pass) gives exactly the two-pass arrays and
    state: missing tokens, min_count, shared blocks, sequences, pretrained keys, bins, many chunks."""
    rng = np.random.default_rng(3)
    n = 2500
    (tmp_path / "keys.txt").write_text("k0\nzz-only-pretrained\nk3\n")
    np.save(tmp_path / "vec.npy", np.ones((3, 4), np.float32))
    tokens = [f"k{i}" for i in range(40)] + ["?", ""]
    path = tmp_path / "d.csv"
    pa.csv.write_csv(table(
        c=rng.choice(tokens, n, p=np.r_[np.full(40, 0.024), 0.02, 0.02]).tolist(),
        d=rng.choice(["x", "y", "z", "k5"], n).tolist(),
        s=["|".join(rng.choice(["k1", "k7", "k39", "new", "-"], rng.integers(0, 6))) for _ in range(n)],
        q=rng.exponential(size=n).round(4),
        w=[None if r < 0.1 else round(v, 3) for r, v in zip(rng.random(n), rng.normal(size=n))],
        y=rng.integers(0, 2, n)), str(path))
    schema = Schema(fields=[
        FeatureSpec("c", "categorical", min_count=60, missing=["?"], pretrained=str(tmp_path / "vec.npy"),
                    pretrained_keys=str(tmp_path / "keys.txt")),
        FeatureSpec("d", "categorical", share_embedding="c"),
        FeatureSpec("s", "sequence", separator="|", missing=["-"], share_embedding="c", max_len=3),
        FeatureSpec("q", "numeric", buckets=9), FeatureSpec("w", "numeric"),
    ], label="y")
    options = {"chunk_rows": 200, "block_bytes": 4096}
    from ctrkit.io import open_source
    from ctrkit.features.tally import COMPACT_EVERY
    assert len(list(open_source(str(path), **options).chunks())) > COMPACT_EVERY   # fit compacts its counts
    two_pass = Processor(schema).fit(str(path), **options)
    expected = two_pass.transform(str(path), **options)
    one_pass = Processor(schema)
    got = one_pass.fit_transform(str(path), **options)
    assert one_pass.to_dict() == two_pass.to_dict()
    assert "zz-only-pretrained" in one_pass.vocabulary("c") and "?" not in one_pass.vocabulary("c")
    assert len(set(expected.cat[:, 0].tolist())) > 5               # OOV, missing and tokens all occur
    for name in ("cat", "num", "seq", "label"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    assert got.info == {"source": str(path), "skipped": 0, "skipped_by": {}}


def test_fit_transform_skips_bad_rows_like_fit_and_transform(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("c,x,y\na,1,0\nb,oops,1\nc,2\na,3,1\nb,4,2\n")
    schema = Schema.from_columns("y", ["c"], ["x"])
    one_pass = Processor(schema)
    got = one_pass.fit_transform(str(path), on_bad_rows="skip")
    expected = Processor(schema).fit(str(path), on_bad_rows="skip").transform(str(path), on_bad_rows="skip")
    assert got.cat.tolist() == expected.cat.tolist() and got.label.tolist() == [0.0, 1.0]
    assert got.info["skipped"] == expected.info["skipped"] == 3    # 'oops', the short line, label 2
    with pytest.raises(DataError, match="line 4: expected 3 fields"):   # the reader sees it first
        Processor(schema).fit_transform(str(path))
    path.write_text("c,x,y\na,1,0\nb,oops,1\n")
    with pytest.raises(DataError, match="line 3, column 'x': expected a number"):
        Processor(schema).fit_transform(str(path))


def test_rows_as_mappings_encode_like_the_columnar_path(tmp_path):
    """``transform_rows`` (a service's small requests) gives the ids and values of ``transform`` on
    the same rows: missing tokens and spellings, out-of-vocabulary values, log, min-max, bins,
    sequences longer than max_len, a shared table, and Python values as well as text."""
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(0)
    n = 400
    cats = rng.choice(["a", "b", "c", "?", ""], n).tolist()
    table = pa.table({
        "c": cats, "c2": rng.choice(["a", "b", "zz"], n).tolist(),
        "x": [("NA" if i % 17 == 0 else "" if i % 19 == 0 else f"{v:.3f}") for i, v in enumerate(rng.lognormal(size=n))],
        "b": [f"{v:.2f}" for v in rng.normal(size=n)],
        "s": ["|".join(rng.choice(["u", "v", "w", "q"], rng.integers(0, 6))) for _ in range(n)],
        "y": rng.integers(0, 2, n).astype(str).tolist()})
    pa_csv.write_csv(table, tmp_path / "d.csv")
    schema = Schema.from_dict({"label": "y", "fields": [
        {"name": "c", "type": "categorical", "missing": ["?"]},
        {"name": "c2", "type": "categorical", "share_embedding": "c"},
        {"name": "x", "type": "numeric", "log": True, "scaler": "minmax"},
        {"name": "b", "type": "numeric", "buckets": 5},
        {"name": "s", "type": "sequence", "max_len": 3}]})
    proc = Processor(schema).fit(str(tmp_path / "d.csv"))
    columnar = proc.transform(str(tmp_path / "d.csv"), require_label=False)
    as_text = proc.transform_rows(table.drop(["y"]).to_pylist())
    typed = [{"c": r["c"] or None, "c2": r["c2"], "x": None if r["x"] in ("NA", "") else float(r["x"]),
              "b": float(r["b"]), "s": r["s"].split("|") if r["s"] else []} for r in table.to_pylist()]
    for rows in (as_text, proc.transform_rows(typed)):
        np.testing.assert_array_equal(rows.cat, columnar.cat)
        np.testing.assert_allclose(rows.num, columnar.num, rtol=1e-6)
        np.testing.assert_array_equal(rows.seq, columnar.seq)
    assert proc.transform_rows([{}]).cat.tolist() == proc.transform(pa.table(
        {"c": pa.array([None], pa.string()), "c2": pa.array([None], pa.string()), "x": pa.array([None], pa.string()),
         "b": pa.array([None], pa.string()), "s": pa.array([None], pa.string())}), require_label=False).cat.tolist()
    with pytest.raises(DataError, match=r"row 0, column 'x': expected a number \(field 'x'\), got 'lots'"):
        proc.transform_rows([{"x": "lots"}])
