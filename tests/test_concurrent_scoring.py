"""A loaded run scores from many threads at once with the single-threaded results, and a run
folder is self-contained (pretrained vectors are not read again from where they came from)."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from ctrkit.runs import load_run

THREADS = 8


def _rows(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    user = rng.choice([f"u{i}" for i in range(40)], n)
    item = rng.choice([f"i{i}" for i in range(30)] + [None], n)
    price = rng.gamma(2.0, 3.0, n).round(2).astype(object)
    price[rng.random(n) < 0.05] = None
    y = ((np.char.str_len(user.astype(str)) + rng.random(n)) > 3.0).astype(int)
    return pa.table({"user": user.tolist(), "item": item.tolist(), "price": price.tolist(), "y": y.tolist()})


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A DeepFM run whose ``item`` field starts from pretrained vectors (of width 6, projected to 8)."""
    from ctrkit.config import load_config
    from ctrkit.experiment import run_experiment

    folder = tmp_path_factory.mktemp("run")
    pa_csv.write_csv(_rows(3000, 0), folder / "train.csv")
    pa_csv.write_csv(_rows(1200, 1), folder / "score.csv")
    bad = _rows(1200, 3)
    price = [None if v is None else str(v) for v in bad.column("price").to_pylist()]
    for row in (5, 600, 1100):                                # three rows a reader must skip and count
        price[row] = "12 eur"
    pa_csv.write_csv(bad.set_column(2, "price", pa.array(price, pa.string())), folder / "bad.csv")
    vectors = folder / "item_vectors.npy"
    np.save(vectors, np.random.default_rng(2).normal(size=(30, 6)).astype(np.float32))
    (folder / "item_keys.txt").write_text("\n".join(f"i{i}" for i in range(30)) + "\n")
    schema = {"label": "y", "fields": [
        {"name": "user", "type": "categorical"},
        {"name": "item", "type": "categorical", "pretrained": str(vectors),
         "pretrained_keys": str(folder / "item_keys.txt")},
        {"name": "price", "type": "numeric", "log": True}]}
    config = load_config(overrides=[
        f"data.train={folder / 'train.csv'}", "model.name=deepfm", "model.embedding_dim=8", "model.dnn_units=[32, 16]",
        "train.epochs=2", "train.batch_size=256", "train.progress=false", "train.threads=1",
        f"out={folder / 'run'}"], **{"data.schema": schema})
    run_experiment(config)
    vectors.unlink()                       # the run must not need them any more
    return folder


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_one_run_scores_from_eight_threads_as_from_one(run_folder, engine, tmp_path):
    if engine == "onnx":
        pytest.importorskip("onnxruntime", reason="the onnx engine needs the onnx extra")
    run = load_run(str(run_folder / "run"), engine=engine)
    source = str(run_folder / "score.csv")
    encoded = run.processor.transform(source)
    alone = run.predict(encoded)
    metrics = run.evaluate(source)
    bad = str(run_folder / "bad.csv")
    with_bad = run.processor.transform(bad, on_bad_rows="skip")
    assert with_bad.info["skipped"] == 3 and len(with_bad) == 1197

    def job(i: int):
        # each thread encodes the raw rows itself, scores them, evaluates them and writes a file
        mine = run.processor.transform(source)
        out = tmp_path / f"scored-{i}.csv"
        rows = run.predict_file(source, str(out))
        skipped = run.processor.transform(bad, on_bad_rows="skip").info["skipped"]
        return mine, run.predict(mine), run.evaluate(source), rows, out, skipped

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(job, range(THREADS * 3)))
    assert run.predictor.engine == engine
    for mine, p, m, rows, out, skipped in results:
        assert skipped == 3                              # counted per call, not on the shared processor
        np.testing.assert_array_equal(mine.cat, encoded.cat)
        np.testing.assert_array_equal(mine.num, encoded.num)
        assert mine.info["skipped"] == 0
        np.testing.assert_array_equal(p, alone)
        assert m == metrics
        assert rows == len(encoded)
        np.testing.assert_array_equal(pa_csv.read_csv(out).column("probability").to_numpy(), alone)


def test_a_run_loads_without_its_pretrained_vectors_file(run_folder):
    assert not (run_folder / "item_vectors.npy").exists()
    run = load_run(str(run_folder / "run"))
    table = run.model.embedding.own["item"].weight
    assert table.shape[1] == 6                           # the pretrained width, from the processor's state
    assert 0.5 < run.evaluate(str(run_folder / "score.csv"))["auc"] <= 1


def test_predictions_go_to_csv_parquet_or_json_lines(run_folder, tmp_path):
    import json

    from ctrkit.errors import CTRKitError

    run = load_run(str(run_folder / "run"))
    with pytest.raises(CTRKitError, match="x.txt: cannot tell the output format from '.txt'"):
        run.predict_file(str(run_folder / "score.csv"), str(tmp_path / "x.txt"))
    assert not (tmp_path / "x.txt").exists()
    assert run.predict_file(str(run_folder / "score.csv"), str(tmp_path / "x.parquet")) == 1200
    assert run.predict_file(str(run_folder / "score.csv"), str(tmp_path / "x.json")) == 1200
    assert run.predict_file(str(run_folder / "score.csv"), str(tmp_path / "x.csv")) == 1200
    rows = [json.loads(line) for line in (tmp_path / "x.json").read_text().splitlines()]
    parquet = pq.read_table(tmp_path / "x.parquet")
    assert len(rows) == 1200 and [r["probability"] for r in rows] == parquet.column("probability").to_pylist()
    csv_back = pa_csv.read_csv(tmp_path / "x.csv", convert_options=pa_csv.ConvertOptions(strings_can_be_null=True,
        column_types={n: pa.string() for n in parquet.column_names if n != "probability"}))
    assert csv_back.column("probability").to_pylist() == parquet.column("probability").to_pylist()
    assert csv_back.drop(["probability"]).to_pylist() == parquet.drop(["probability"]).to_pylist()   # text kept
