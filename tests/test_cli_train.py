"""train → evaluate → predict → report as real processes; determinism; resume after a kill."""
import csv
import html
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file

from ctrkit.datasets import synthetic

SMALL = ["--set", "data.options={n_rows: 4000, n_numeric: 2, n_categorical: 6, vocab_max: 200, n_pairs: 2, "
         "n_triples: 0, n_first_order: 3}", "--set", "train.threads=1", "--set", "train.progress=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def ctrkit(*args, check=True, **kw):
    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", *map(str, args)], capture_output=True, text=True,
                         env=ENV, **kw)
    if check:
        assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    cfg = synthetic.SyntheticConfig(n_numeric=2, n_categorical=5, vocab_max=100, n_pairs=1, n_triples=0,
                                    n_first_order=3, seed=1)
    table = synthetic.generate(3000, cfg)
    pq.write_table(table.slice(2500), folder / "test.parquet")
    import pyarrow.csv as pa_csv
    pa_csv.write_csv(table.slice(0, 2500), folder / "train.csv")
    return folder


def test_train_evaluate_predict_report_on_files(csv_files, tmp_path):
    out = tmp_path / "run"
    run = ctrkit("train", "--train", csv_files / "train.csv", "--test", csv_files / "test.parquet", "--label", "label",
                 "--categorical", "C1,C2,C3,C4,C5", "--numeric", "I1,I2", "--model", "deepfm", "--epochs", "2",
                 "--batch-size", "256", "--embedding-dim", "8", "--lr", "0.003", "--seed", "1", "--out", out,
                 "--set", "model.dnn_units=[32,16]", "--set", "train.threads=1")
    assert "auc" in run.stdout and "test" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "deepfm"
    assert set(metrics["valid"]) >= {"auc", "logloss"}
    assert set(metrics["test"]) >= {"auc", "logloss", "accuracy", "precision", "recall"}
    assert metrics["train"]["epochs"] == 2 and metrics["train"]["samples_per_second"] > 0
    assert 0.5 < metrics["test"]["auc"] <= 1
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[0].startswith("epoch,step,train_loss,train_auc")
    for name in ("model.safetensors", "processor.json", "config.yaml", "checkpoint/model.safetensors",
                 "checkpoint/state.pt", "data/train/cat.npy"):
        assert (out / name).exists(), name

    evaluated = json.loads(ctrkit("evaluate", "--run", out, "--data", csv_files / "test.parquet",
                                  "--out", tmp_path / "eval.json").stdout)
    assert evaluated["auc"] == pytest.approx(metrics["test"]["auc"], abs=1e-12)
    assert json.loads((tmp_path / "eval.json").read_text()) == evaluated

    ctrkit("predict", "--run", out, "--input", csv_files / "test.parquet", "--output", tmp_path / "p.parquet")
    scored = pq.read_table(tmp_path / "p.parquet")
    assert scored.num_rows == 500 and "probability" in scored.column_names and "C1" in scored.column_names
    p = scored.column("probability").to_numpy()
    assert ((p > 0) & (p < 1)).all()
    ctrkit("predict", "--run", out, "--input", csv_files / "train.csv", "--output", tmp_path / "p.csv")
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 2501

    ctrkit("report", "--run", out)
    page = (out / "report.html").read_text()
    assert "<img" in page and "data:image/png;base64" in page and "auc" in page
    for png in ("learning_curves.png", "roc.png", "calibration.png"):
        assert (out / "plots" / png).stat().st_size > 5000


@pytest.mark.parametrize("model, options, plot, title, absent", [
    ("fignn", ["--set", "model.gnn_layers=1"], "field_pairs.png", "Field-pair importance", None),
    ("fibinet", ["--set", "model.dnn_units=[16]"], "field_weights.png", "Field weights",
     "field_pairs.png"),   # FiBiNET weighs fields, not pairs
])
def test_report_draws_what_the_model_weighs(tmp_path, model, options, plot, title, absent):
    """FiGNN's field-pair heatmap; FiBiNET's SENET field weights as bars."""
    out = tmp_path / model
    ctrkit("train", "--dataset", "synthetic", "--model", model, "--epochs", "1", "--embedding-dim", "8",
           "--out", out, *SMALL, *options)
    ctrkit("report", "--run", out)
    assert (out / "plots" / plot).stat().st_size > 5000
    assert title in (out / "report.html").read_text()
    if absent:
        assert not (out / "plots" / absent).exists()


def test_config_file_and_fnn_pretrain(tmp_path):
    out = tmp_path / "fnn"
    ctrkit("train", "--config", "configs/synthetic_fnn.yaml", "--out", out, *SMALL, "--set", "train.epochs=1",
           "--set", "pretrain=fm", "--set", "pretrain.epochs=1", "--set", "model.dnn_units=[16]", "--set", "train.batch_size=512")
    assert (out / "pretrain" / "checkpoint" / "model.safetensors").exists()
    fm = load_file(str(out / "pretrain" / "checkpoint" / "best.safetensors"))
    assert "embedding.table.weight" in fm


def test_config_errors_are_reported(tmp_path):
    run = ctrkit("train", "--dataset", "adult", "--model", "fm", "--set", "train.epohcs=2", check=False)
    assert run.returncode == 2 and "unknown key train.epohcs" in run.stderr and "Traceback" not in run.stderr
    run = ctrkit("train", "--dataset", "adult", "--model", "fm", "--device", "gpu0", check=False)
    assert run.returncode == 2 and "train.device 'gpu0': expected" in run.stderr and "Traceback" not in run.stderr


def test_same_seed_same_metrics(tmp_path):
    results = []
    for name in ("a", "b"):
        ctrkit("train", "--dataset", "synthetic", "--model", "autoint+", "--epochs", "2", "--embedding-dim", "8",
               "--out", tmp_path / name, *SMALL, "--set", "model.dnn_units=[16]", "--set", "train.batch_size=128",
               "--set", "model.attention_dropout=0.1")
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        results.append((m["valid"], m["test"]))
    assert results[0] == results[1]


def test_resume_after_kill_gives_the_same_weights(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "deepfm", "--epochs", "3", "--embedding-dim", "8", *SMALL,
            "--set", "model.dnn_units=[64,64]", "--set", "model.dnn_dropout=0.2", "--set", "train.batch_size=16",
            "--set", "train.checkpoint_every_steps=25", "--set", "train.patience=5"]
    ctrkit(*args, "--out", tmp_path / "full")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ctrkit.cli", *args, "--out", str(killed)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    state = killed / "checkpoint" / "state.pt"
    while time.time() < deadline and not state.exists():   # kill at the first checkpoint (step 25 of 600)
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists() or (killed / "checkpoint.old" / "state.pt").exists()
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"
    ctrkit(*args, "--out", killed, "--resume")
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads((killed / "metrics.json").read_text())
    assert full["test"] == resumed["test"]
    # the history too: the interrupted epoch's running loss and train AUC came back from the checkpoint
    a, b = (_history_without_timing(folder / "history.csv") for folder in (tmp_path / "full", killed))
    assert a == b and len(a) == 3 and "train_loss" in a[0] and "train_auc" in a[0]


def _history_without_timing(path):
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_second")}
                for row in csv.DictReader(fh)]


def test_resume_refuses_a_changed_config(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "lr", "--epochs", "1", *SMALL, "--out", tmp_path / "r"]
    ctrkit(*args)
    run = ctrkit(*args, "--resume", "--set", "train.lr=0.5", "--set", "model.embedding_dim=4", check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "train.lr: 0.001 -> 0.5" in run.stderr and "model.embedding_dim" in run.stderr, run.stderr
    run = ctrkit(*args, "--resume", "--epochs", "2")               # more epochs: allowed
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["train"]["epochs"] == 2


def test_models_and_datasets_commands():
    out = ctrkit("models").stdout
    assert "deepfm" in out and "Guo et al." in out and "fignn" in out


def test_a_run_is_not_replaced_without_overwrite(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "lr", "--epochs", "1", *SMALL, "--out", tmp_path / "r"]
    ctrkit(*args)
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    (tmp_path / "r" / "notes.txt").write_text("mine")
    run = ctrkit(*args, "--set", "train.lr=0.1", check=False)
    assert run.returncode == 2 and "holds a run already" in run.stderr and "--overwrite" in run.stderr
    assert "Traceback" not in run.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file() and p.name != "notes.txt"} \
        == before                                                     # nothing of the run changed
    ctrkit(*args, "--set", "train.lr=0.1", "--overwrite")
    assert "lr: 0.1" in (tmp_path / "r" / "config.yaml").read_text()
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"      # only the run's own files go
    for name in ("model.safetensors", "config.yaml", "metrics.json"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o666 & ~_umask()   # normal permissions


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_config_mistakes_are_messages_not_tracebacks(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {name: deepfm\ndata: {dataset: adult}\n")
    run = ctrkit("train", "--config", broken, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{broken}, line 2, column 5: not valid YAML" in run.stderr, run.stderr
    run = ctrkit("train", "--dataset", "adult", "--model", "fm", "--set", "train.lr=[1", check=False)
    assert run.returncode == 2 and "--set train.lr=[1" in run.stderr and "not valid YAML" in run.stderr
    top = tmp_path / "top.yaml"
    top.write_text("trian: {epochs: 1}\nmodel: {name: fm}\ndata: {dataset: adult}\n")
    run = ctrkit("train", "--config", top, check=False)
    assert "unknown key trian; valid keys" in run.stderr                 # no stray dot


def test_schema_into_a_closed_pipe_stops_quietly(tmp_path):
    wide = tmp_path / "wide.csv"
    columns = [f"c{i}" for i in range(3000)]
    wide.write_text(",".join(["y", *columns]) + "\n" + ",".join(["1", *("a" for _ in columns)]) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "ctrkit.cli", "schema", "--data", str(wide), "--label", "y"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stdout.readline()                                            # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_bad_training_options_are_refused_before_anything_is_written(tmp_path):
    for flags, message in ((["--epochs", "0"], "train.epochs: expected at least 1, got 0"),
                           (["--batch-size", "0"], "train.batch_size: expected at least 1, got 0"),
                           (["--lr", "-0.1"], "train.lr: expected more than 0, got -0.1"),
                           (["--embedding-dim", "0"], "model.embedding_dim: expected at least 1, got 0")):
        run = ctrkit("train", "--dataset", "adult", "--model", "fm", *flags, "--out", tmp_path / "r", check=False)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert not (tmp_path / "r").exists()


def test_a_copied_run_config_does_not_write_into_the_run(tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "lr", "--epochs", "1", *SMALL]
    ctrkit(*args, "--out", tmp_path / "a")
    saved = (tmp_path / "a" / "config.yaml").read_text()
    assert "out: null" in saved
    (tmp_path / "copy.yaml").write_text(saved)
    before = (tmp_path / "a" / "model.safetensors").read_bytes()
    ctrkit("train", "--config", tmp_path / "copy.yaml", "--out", tmp_path / "b", "--set", "train.lr=0.01")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == before
    assert (tmp_path / "b" / "model.safetensors").exists()


def test_din_from_a_yaml_schema_with_a_shared_history(tmp_path):
    """The README's DIN config: a history sequence that shares item_id's table, found by DIN itself;
    the report and the ONNX export take the model like any other."""
    from test_learning import behaviour_data
    import pyarrow.csv as pa_csv
    rows = behaviour_data(8000, seed=0)
    pa_csv.write_csv(rows.rename_columns(["item_id", "user_id", "history", "clicked"]), tmp_path / "clicks.csv")
    (tmp_path / "din.yaml").write_text(f"""
data:
  train: {tmp_path / 'clicks.csv'}
  schema:
    label: clicked
    fields:
      - {{name: item_id, type: categorical}}
      - {{name: user_id, type: categorical}}
      - {{name: history, type: sequence, separator: "|", max_len: 12, share_embedding: item_id}}
model: {{name: din, embedding_dim: 8, dnn_units: [16]}}
train: {{epochs: 6, batch_size: 256, lr: 0.003, threads: 1, progress: false}}
""")
    ctrkit("train", "--config", tmp_path / "din.yaml", "--out", tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["valid"]["auc"] > 0.6, metrics
    ctrkit("report", "--run", tmp_path / "run")
    assert (tmp_path / "run" / "plots" / "history_history.png").stat().st_size > 0
    page = html.unescape((tmp_path / "run" / "report.html").read_text())
    on_target, on_others = map(float, re.search(r"History weights of 'history' \(valid\): ([-\d.]+) on items equal "
                                                r"to the row's target, ([-\d.]+) on the others", page).groups())
    # the planted interaction (clicks follow a match) sets the matching items apart; the weights are
    # unnormalised, and the MLP after them reads a negative weight as well as a positive one
    assert abs(on_target - on_others) > 0.2, (on_target, on_others)
    ctrkit("export", "--run", tmp_path / "run", "--out", tmp_path / "din.onnx")
    assert (tmp_path / "din.onnx").stat().st_size > 0
    wrong = ctrkit("train", "--config", tmp_path / "din.yaml", "--set", "model.behaviors={user_id: history}",
                   "--out", tmp_path / "wrong", check=False)
    assert wrong.returncode != 0 and "must share the embedding of 'user_id'" in wrong.stderr, wrong.stderr[-2000:]
    assert "Traceback" not in wrong.stderr
