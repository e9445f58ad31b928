"""Each dataset module on fixture files written in its layout, and on the real copies if present."""
import gzip

import numpy as np
import pyarrow as pa
import pytest

from conftest import AVAZU_HEADER, avazu_line, criteo_line, shared_data, write_frappe, write_ml100k, write_text
from ctrkit.datasets import DATASETS, load_dataset, prepare
from ctrkit.errors import CTRKitError
from ctrkit.datasets import adult, avazu, criteo, frappe, movielens, synthetic


def rows_of(prepared):
    return {k: len(v) for k, v in prepared.splits.items()}


# ---------------------------------------------------------------- adult
def test_adult_bundled(tmp_path):
    prepared = prepare(adult.load(), str(tmp_path / "adult"))
    assert rows_of(prepared) == {"train": 26049, "valid": 6512, "test": 16281}
    assert 26049 + 6512 == 32561
    train, test = prepared.splits["train"], prepared.splits["test"]
    # 8 categorical fields and the 6 numeric ones cut into quantile bins (buckets=32, the default)
    assert train.cat.shape[1] == 14 and train.num.shape[1] == 0
    assert all(0 < prepared.processor.state[c].size <= 32 + 2 for c in adult.NUMERIC)
    raw = prepare(adult.load(buckets=None))                    # null: scaled values
    assert raw.splits["train"].cat.shape[1] == 8 and raw.splits["train"].num.shape[1] == 6
    # stratified: the valid split keeps the label rate of adult.data (7841 / 32561)
    assert abs(float(prepared.splits["valid"].label.mean()) - 7841 / 32561) < 0.001
    assert int(test.label.sum()) == 3846                 # '>50K.' rows of adult.test
    # '?' is the missing token: workclass has 1836 of them in adult.data
    wc = prepared.processor.state["workclass"]
    assert "?" not in prepared.processor.vocabulary("workclass")
    n_missing = int((train.cat[:, 0] == wc.offset + 1).sum() + (prepared.splits["valid"].cat[:, 0] == wc.offset + 1).sum())
    assert n_missing == 1836


def test_folder_prepare_reads_a_small_train_file_once_and_a_large_one_twice(tmp_path, monkeypatch):
    """Both ways into a folder give the same processor and the same arrays (gzip file, criteo layout)."""
    from ctrkit.datasets import base
    from ctrkit.io.store import read_split
    lines = ["\t".join([str(i % 2)] + [str(i % (j + 2)) if (i + j) % 9 else "" for j in range(13)]
                       + [f"{(i * 31 + j * 7) % 13:x}" for j in range(26)]) for i in range(300)]
    path = tmp_path / "train.txt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    valid = write_text(tmp_path / "valid.txt", "\n".join(lines[:50]) + "\n")
    files = (str(path), str(valid), str(valid))
    assert base.fits_one_read(criteo.load(*files).splits["train"])
    one = prepare(criteo.load(*files), str(tmp_path / "one"))
    monkeypatch.setattr(base, "ONE_READ_BYTES", 0)
    assert not base.fits_one_read(criteo.load(*files).splits["train"])
    two = prepare(criteo.load(*files), str(tmp_path / "two"))
    assert one.processor.to_dict() == two.processor.to_dict()
    for name in one.splits:
        a, b = one.splits[name], two.splits[name]
        for key in ("cat", "num", "seq", "label"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert read_split(str(tmp_path / "one" / "train")).info == read_split(str(tmp_path / "two" / "train")).info


def test_adult_from_folder_with_original_layout(tmp_path):
    line = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, {}\n"
    write_text(tmp_path / "adult.data", "".join(line.format(">50K" if i % 4 == 0 else "<=50K") for i in range(40)) + "\n")
    write_text(tmp_path / "adult.test", "|1x3 Cross validator\n" + line.format(">50K.") + line.format("<=50K."))
    prepared = prepare(adult.load(str(tmp_path)))
    assert rows_of(prepared) == {"train": 32, "valid": 8, "test": 2}
    assert prepared.splits["test"].label.tolist() == [1.0, 0.0]
    assert prepared.splits["valid"].label.sum() == 2     # stratified: 10 positives → 8 + 2


def test_adult_real_copy_matches_bundled():
    folder = shared_data("adult")
    a, b = adult.load(str(folder)), adult.load()
    assert a.splits["train"].read_all().equals(b.splits["train"].read_all())


# ---------------------------------------------------------------- movielens
def test_movielens_100k_fixture(tmp_path):
    write_ml100k(tmp_path)
    raw = movielens.load(str(tmp_path))
    table = pa.concat_tables([s.read_all() for s in raw.splits.values()]).sort_by("timestamp")
    assert table.num_rows == 20
    assert table.column("label").to_pylist()[:5] == [1, 0, 1, 0, 0]         # rating > 3
    assert table.column("genres").to_pylist()[:5] == ["Action|Comedy", "Comedy", "Action|Comedy", "unknown", "Comedy"]
    assert table.column("zip_prefix").to_pylist()[0] == "857"
    assert raw.schema["genres"].type == "sequence"


def test_movielens_1m_fixture(tmp_path):
    ratings = [(1, 1193, 5, 978300760), (1, 661, 3, 978302109), (2, 1193, 4, 978298413)] * 4
    write_text(tmp_path / "ratings.dat", "".join(f"{u}::{i}::{r}::{t + k * 10000}\n" for k, (u, i, r, t) in enumerate(ratings)))
    write_text(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    (tmp_path / "movies.dat").write_bytes("1193::One Flew (1975)::Drama\n661::James (1996)::Animation|Children's|Musical\n"
                                           .encode("latin-1"))
    raw = movielens.load(str(tmp_path))
    assert raw.info["format"] == "ml-1m"
    table = pa.concat_tables([s.read_all() for s in raw.splits.values()]).sort_by("timestamp")
    assert table.num_rows == 12
    assert table.column("genres").to_pylist()[:3] == ["Drama", "Animation|Children's|Musical", "Drama"]
    assert table.column("gender").to_pylist()[:3] == ["F", "F", "M"]


def test_movielens_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected an ml-100k or ml-1m folder"):
        movielens.load(str(tmp_path))


@pytest.mark.parametrize("name, rows", [("movielens-100k", 100_000), ("movielens-1m", 487_650)])
def test_movielens_real(name, rows):
    raw = movielens.load(str(shared_data(name)))
    prepared = prepare(raw)
    assert sum(rows_of(prepared).values()) == rows
    seq = prepared.splits["train"].seq
    assert seq.shape[1] == 1 and (seq[:, 0, 0] > 0).all()                 # every movie has a genre


# ---------------------------------------------------------------- criteo
def test_criteo_tsv_fixture(tmp_path):
    path = write_text(tmp_path / "train.txt", "".join(criteo_line(i % 2, i) for i in range(30)))
    prepared = prepare(criteo.load(str(path)))
    assert rows_of(prepared) == {"train": 24, "valid": 3, "test": 3}
    p = prepared.processor
    assert p.state["I2"].count == 0 and p.state["I2"].missing == 24   # empty = missing
    assert p.state["I3"].mean == pytest.approx(-np.log(2))               # signed log of -1
    assert p.vocabulary("C1") == ["05db9164", "68fd1e64"]
    c2 = p.state["C2"].offset
    assert (prepared.splits["train"].cat[:, 1] == c2 + 1).all()             # C2 always missing


def test_criteo_with_header_and_bucketing(tmp_path):
    header = "Id,Label," + ",".join(criteo.NUMERIC + criteo.CATEGORICAL) + "\n"
    body = "".join(f"{100 + i}," + criteo_line(i % 2, i).replace("\t", ",") for i in range(20))
    path = write_text(tmp_path / "train.tiny.csv", header + body)
    raw = criteo.load(str(path), buckets=4)
    prepared = prepare(raw)
    assert prepared.splits["train"].num.shape[1] == 0 and prepared.splits["train"].cat.shape[1] == 39


def test_criteo_real():
    folder = shared_data("criteo", "wide_resdnn")
    prepared = prepare(criteo.load(str(folder / "train.csv"), str(folder / "dev.csv"), str(folder / "test.csv")))
    assert rows_of(prepared) == {"train": 7200, "valid": 409, "test": 391}
    assert int(prepared.splits["train"].label.sum()) == 1549


# ---------------------------------------------------------------- avazu
def test_avazu_fixture_with_and_without_header(tmp_path):
    train = write_text(tmp_path / "train.csv", AVAZU_HEADER + "".join(avazu_line(i) for i in range(10)))
    valid = write_text(tmp_path / "dev.csv", avazu_line(1, "14102523"))
    raw = avazu.load(str(train), str(valid))
    v = raw.splits["valid"].read_all()
    # 2014-10-25 was a Saturday, 2014-10-21 a Tuesday (Monday = 0)
    assert v.column("hour_of_day").to_pylist() == ["23"] and v.column("weekday").to_pylist() == ["5"]
    t = raw.splits["train"].read_all()
    assert t.column("weekday").to_pylist()[0] == "1" and t.column("id").to_pylist()[0] == str(10**19)
    prepared = prepare(raw)
    assert prepared.splits["train"].cat.shape == (10, 23) and "id" not in raw.schema.names


def test_avazu_real():
    folder = shared_data("avazu", "wide_resdnn")
    prepared = prepare(avazu.load(str(folder / "train.csv"), str(folder / "dev.csv"), str(folder / "test.csv")))
    assert rows_of(prepared) == {"train": 8087, "valid": 480, "test": 432}
    assert int(prepared.splits["train"].label.sum()) == 1397


# ---------------------------------------------------------------- frappe
def test_frappe_fixture(tmp_path):
    write_frappe(tmp_path, ("validation", "test"))
    prepared = prepare(frappe.load(str(tmp_path)))
    assert rows_of(prepared) == {"train": 24, "valid": 6, "test": 30}
    assert prepared.splits["test"].label.sum() == 10
    assert prepared.processor.vocabulary("city") == ["5149"]


def test_frappe_real():
    prepared = prepare(frappe.load(str(shared_data("frappe"))))
    assert rows_of(prepared)["test"] == 28860 and int(prepared.splits["test"].label.sum()) == 9536
    assert rows_of(prepared)["train"] + rows_of(prepared)["valid"] == 57722


# ---------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_criteo_shaped():
    cfg = synthetic.SyntheticConfig(seed=7, n_sequence=1)
    a, b = synthetic.generate(2000, cfg), synthetic.generate(2000, cfg)
    assert a.equals(b)
    assert not a.equals(synthetic.generate(2000, synthetic.SyntheticConfig(seed=8, n_sequence=1)))
    assert a.column_names == ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)] + ["S1"]
    assert 0.2 < pc_mean(a.column("label")) < 0.3
    assert all(len(t) == 8 for t in a.column("C1").to_pylist()[:50])
    assert 0.02 < a.column("I1").null_count / 2000 < 0.09


def pc_mean(col):
    return float(np.mean(col.to_numpy()))


def test_synthetic_vocabularies_and_planted_terms():
    world = synthetic.SyntheticWorld(synthetic.SyntheticConfig(seed=0))
    sizes = sorted(world.vocab.values())
    assert sizes[0] == 10 and sizes[-1] == 200_000
    info = world.info()
    assert len(info["pairs"]) == 4 and len(info["triples"]) == 1
    planted = {f for term in info["pairs"] + info["triples"] for f in term}
    assert len(planted) == 11 and max(world.vocab[f] for f in planted) < 1000
    table = world.block(0, 20_000)
    top = table.column("C1").value_counts().field("counts").to_numpy()
    assert top.max() > 5 * np.median(top)                                   # Zipf-like skew


def test_synthetic_csv_round_trip(tmp_path):
    cfg = synthetic.SyntheticConfig(seed=3)
    path = tmp_path / "s.csv"
    synthetic.write_csv(str(path), 1500, cfg)
    raw = synthetic.load(1500, seed=3)
    proc = prepare(raw).processor
    from ctrkit.io import open_source
    table = open_source(str(path)).read_all()
    assert table.num_rows == 1500 and table.column("C5").to_pylist() == synthetic.generate(1500, cfg).column("C5").to_pylist()
    assert proc.transform(str(path)).cat.shape == (1500, 26)


def test_registry_lists_every_dataset():
    assert set(DATASETS) == {"adult", "synthetic", "movielens", "criteo", "avazu", "frappe"}
    with pytest.raises(CTRKitError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_movielens_history_holds_earlier_likes_only():
    users = np.array(["1", "1", "1", "1", "2", "2"])
    times = np.array([5, 9, 9, 12, 1, 3])
    items = np.array(["a", "b", "c", "d", "e", "f"])
    liked = np.array([True, True, False, True, True, True])
    got = movielens.liked_before(users, times, items, liked, n=2)
    # row 2 (time 9) does not see row 1 (also time 9); only likes enter; the last two, oldest first
    assert got == ["", "a", "a", "a|b", "", "e"]
