"""Trainer callbacks: the hooks in order, a callback that stops training, the estimator's
callbacks, and a resumed epoch that starts at the right batch."""
import re

import numpy as np
import pytest

from ctrkit import CTRClassifier
from ctrkit.data import BatchLoader
from ctrkit.datasets import prepare, synthetic
from ctrkit.models import build_model
from ctrkit.train import Callback, Trainer

DATA = dict(n_numeric=1, n_categorical=4, vocab_max=30, n_pairs=1, n_triples=0, n_first_order=2)


@pytest.fixture(scope="module")
def prepared():
    return prepare(synthetic.load(2000, seed=0, **DATA))


class Recorder(Callback):
    """Writes down every hook as (hook, epoch, step)."""

    def __init__(self):
        self.calls = []

    def _note(self, hook, trainer):
        self.calls.append((hook, trainer.epoch, trainer.step))

    def on_fit_start(self, trainer):
        self._note("fit_start", trainer)

    def on_epoch_start(self, trainer):
        self._note("epoch_start", trainer)

    def on_step_end(self, trainer, batch, loss):
        assert loss.dim() == 0 and not loss.requires_grad and len(batch) > 0
        self._note("step", trainer)

    def on_evaluate(self, trainer, row):
        assert row["step"] == trainer.step and "valid_auc" in row
        self._note("evaluate", trainer)

    def on_epoch_end(self, trainer):
        self._note("epoch_end", trainer)

    def on_fit_end(self, trainer):
        self._note("fit_end", trainer)


def test_hooks_run_in_order(prepared):
    recorder = Recorder()
    model = build_model("fm", prepared.processor.feature_map(), embedding_dim=4)
    trainer = Trainer(model, epochs=2, batch_size=400, progress=False, patience=5, callbacks=[recorder])
    trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    steps = trainer.batches_per_epoch
    expected = [("fit_start", 0, 0)]
    for epoch in range(2):
        expected.append(("epoch_start", epoch, epoch * steps))
        expected += [("step", epoch, epoch * steps + i + 1) for i in range(steps)]
        expected += [("evaluate", epoch + 1, (epoch + 1) * steps), ("epoch_end", epoch + 1, (epoch + 1) * steps)]
    expected.append(("fit_end", 2, 2 * steps))
    assert recorder.calls == expected
    assert trainer.callbacks[-1] is recorder                   # after the built-in ones


class StopAfter(Callback):
    def __init__(self, steps):
        self.steps = steps

    def on_step_end(self, trainer, batch, loss):
        if trainer.step == self.steps:
            trainer.stop_training = True


def test_a_callback_stops_training(prepared):
    model = build_model("lr", prepared.processor.feature_map())
    trainer = Trainer(model, epochs=3, batch_size=100, progress=False, callbacks=[StopAfter(7)])
    trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    assert trainer.step == 7 and trainer.epoch == 0 and trainer.history == []


def test_the_estimator_takes_callbacks(prepared):
    table = synthetic.generate(1500, synthetic.SyntheticConfig(seed=3, **DATA))
    recorder = Recorder()
    clf = CTRClassifier("lr", epochs=2, batch_size=256, callbacks=[recorder]).fit(table, label="label")
    assert [c[0] for c in recorder.calls].count("evaluate") == 2 == len(clf.history_)
    assert set(clf.metrics_["valid"]) >= {"auc", "logloss"}


def test_a_resumed_epoch_starts_at_its_batch_without_gathering_the_others(prepared):
    data = prepared.splits["train"]
    loader = BatchLoader(data, 64, shuffle="rows", seed=4)
    loader.set_epoch(2)
    full = [b.label.numpy() for b in loader]
    loader.set_epoch(2, start=5)
    tail = [b.label.numpy() for b in loader]
    assert len(tail) == len(full) - 5
    for a, b in zip(full[5:], tail):
        np.testing.assert_array_equal(a, b)
    assert len(list(loader)) == len(full)                      # the next epoch starts at batch 0 again


def test_progress_prints_a_line_per_evaluation_without_a_terminal(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "ctrkit.cli", "train", "--dataset", "synthetic", "--model", "lr",
                          "--epochs", "3", "--out", str(tmp_path / "r"), "--set", "train.threads=1", "--set",
                          "data.options={n_rows: 3000, n_numeric: 1, n_categorical: 4, vocab_max: 30, n_pairs: 1, "
                          "n_triples: 0, n_first_order: 2}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], run.stderr
    assert all("train loss" in line and "valid auc" in line and "samples/s" in line for line in lines)
    assert all(re.search(r"mean p 0\.\d{4} \(rate 0\.\d{4}\)", line) for line in lines)   # calibration
    assert "ETA" in lines[0] and "ETA" not in lines[-1]


def test_fnn_says_what_each_stage_does(tmp_path, capsys):
    from ctrkit.cli import main

    assert main(["train", "--dataset", "synthetic", "--model", "fnn", "--set", "pretrain=fm", "--set",
                 "pretrain.epochs=1", "--epochs", "1", "--out", str(tmp_path / "r"), "--set", "train.threads=1",
                 "--set", "model.dnn_units=[8]", "--set", "data.options={n_rows: 2000, n_numeric: 1, "
                 "n_categorical: 3, vocab_max: 30, n_pairs: 1, n_triples: 0, n_first_order: 2}"]) == 0
    err = capsys.readouterr().err.splitlines()
    stages = [i for i, line in enumerate(err) if line.startswith("FNN stage")]
    assert err[stages[0]] == "FNN stage 1 of 2: pre-training FM for 1 epochs; its embeddings start the FNN"
    assert err[stages[1]] == "FNN stage 2 of 2: training the FNN from those embeddings (fine-tuned)"
    assert err[stages[0] + 1].startswith("FM on cpu: float32 (") and err[stages[1] + 1].startswith("FNN on cpu: ")
    assert err[stages[0] + 2].startswith("epoch 1/1") and err[stages[1] + 2].startswith("epoch 1/1")


def test_progress_without_a_terminal_speaks_within_long_epochs(prepared, capsys):
    """Off a terminal, a line every ``every_s`` seconds inside an epoch (here: every step)."""
    from ctrkit.train.callbacks import ProgressBar

    model = build_model("lr", prepared.processor.feature_map())
    Trainer(model, epochs=1, batch_size=400, progress=False, threads=1,
            callbacks=[ProgressBar(every_s=0.0)]).fit(prepared.splits["train"], prepared.splits["valid"])
    lines = capsys.readouterr().err.splitlines()
    steps = [line for line in lines if " step " in line]
    assert len(steps) >= 3 and steps[0].startswith("epoch 1/1  step 1 of 4  train loss ")
    assert all("samples/s" in line and "ETA" in line for line in steps[:-1])
    assert lines[-1].startswith("epoch 1/1  train loss") and "valid auc" in lines[-1]
