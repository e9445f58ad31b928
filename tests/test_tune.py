"""``ctrkit tune``: the search-space parser, a study on Adult whose best.yaml reproduces its best
trial, pruning, parallel jobs, and a study killed with SIGKILL that resumes where it stopped."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState              # noqa: E402

from ctrkit.cli import main                        # noqa: E402
from ctrkit.config import ConfigError, load_config  # noqa: E402
from ctrkit.tune import parse_space                 # noqa: E402
from ctrkit.tune.study import trial_device           # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def config_file(tmp_path, tune, model="lr", epochs=2, **train):
    path = tmp_path / "tune.yaml"
    config = {"data": {"dataset": "adult"}, "model": {"name": model},
              "train": {"epochs": epochs, "batch_size": 2048, "threads": 1, "progress": False, **train},
              "tune": tune}
    path.write_text(yaml.safe_dump(config))
    return str(path)


def space_of(tune, model="deepfm"):
    return parse_space(load_config(None, (), **{"data.dataset": "adult", "model.name": model, "tune": tune}))


def test_the_space_parser_reads_every_kind_and_the_settings():
    space = space_of({"trials": 7, "pruner": "hyperband", "train.lr": {"loguniform": [1e-4, 1e-2]},
                      "model.embedding_dim": {"choice": [8, 16]}, "model.dnn_dropout": {"uniform": [0, 0.5]},
                      "model.dnn_units": {"choice": [[64, 32], [16]]}, "train.batch_size": {"logint": [256, 4096]}})
    assert space.settings == {"trials": 7, "pruner": "hyperband", "startup_trials": 5}
    assert [(p.key, p.kind) for p in space.params] == [
        ("train.lr", "loguniform"), ("model.embedding_dim", "choice"), ("model.dnn_dropout", "uniform"),
        ("model.dnn_units", "choice"), ("train.batch_size", "logint")]
    trial = optuna.trial.FixedTrial({"train.lr": 0.001, "model.embedding_dim": 8, "model.dnn_dropout": 0.1,
                                     "model.dnn_units": "[16]", "train.batch_size": 512})
    values = {p.key: p.suggest(trial) for p in space.params}
    assert values["model.dnn_units"] == [16]
    config = space.apply(load_config(None, (), **{"data.dataset": "adult", "model.name": "deepfm"}), values)
    assert config["model"]["dnn_units"] == [16] and config["train"]["batch_size"] == 512


@pytest.mark.parametrize("tune, message", [
    ({"train.lr": {"loguniform": [0, 1e-2]}}, "tune.train.lr: loguniform needs low > 0"),
    ({"train.lr": {"uniform": [0.1, 0.01]}}, "tune.train.lr: expected low < high"),
    ({"train.lr": {"normal": [0, 1]}}, "tune.train.lr: unknown distribution 'normal'"),
    ({"train.lr": [1e-3, 1e-2]}, "tune.train.lr: expected one distribution"),
    ({"model.heads": {"choice": [1, 2]}}, "tune.model.heads: the value 1 does not fit the config: unknown key "
                                          "model.heads for model 'deepfm'"),
    ({"train.batch_size": {"choice": ["big"]}}, "tune.train.batch_size: the value 'big' does not fit the config: "
                                                "train.batch_size: expected int"),
    ({"train.batch_size": {"int": [0, 8]}}, "train.batch_size: expected at least 1, got 0"),
    ({"train.epochs": {"int": [1.5, 3]}}, "tune.train.epochs: int expects whole numbers"),
    ({"model.embedding_dim": {"choice": []}}, "tune.model.embedding_dim: choice expects at least one value"),
    ({"pruner": "random"}, "tune.pruner: expected one of median, hyperband, none"),
    ({"budget": 3}, "tune.budget: unknown setting"),
    ({"trials": 5}, "tune: no key to search"),
    ({"out": {"choice": ["a"]}}, "tune.out"),
])
def test_the_space_parser_names_the_key_at_fault(tune, message):
    with pytest.raises(ConfigError) as err:
        space_of(tune)
    assert message in str(err.value)


def test_a_study_on_adult_writes_its_folder_and_best_yaml_reproduces_the_best_trial(tmp_path, capsys):
    config = config_file(tmp_path, {"pruner": "none", "startup_trials": 2, "train.lr": {"loguniform": [1e-3, 3e-2]},
                                    "model.embedding_dim": {"choice": [4, 8]}})
    out = tmp_path / "t"
    assert main(["tune", "--config", config, "--trials", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best: trial" in printed
    with open(out / "trials.csv") as fh:
        trials = list(csv.DictReader(fh))
    assert [t["state"] for t in trials] == ["complete"] * 3
    assert {"number", "state", "value", "seconds", "epochs", "device", "train.lr", "model.embedding_dim"} <= set(trials[0])
    assert {t["device"] for t in trials} == {"model"}          # train.device as configured, on one process
    best = json.loads((out / "best.json").read_text())
    assert best["value"] == pytest.approx(max(float(t["value"]) for t in trials), abs=1e-6)
    assert sorted(os.listdir(out / "trials")) == []           # the others' runs are removed, the best moved
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64") >= 2 and "best.yaml" in report
    assert (out / "best" / "report.html").exists()
    # the best config, trained from scratch by `ctrkit train`, gives the trial's validation score
    assert main(["train", "--config", str(out / "best.yaml"), "--out", str(tmp_path / "again"),
                 "--set", "train.threads=1"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["valid"]["auc"] == pytest.approx(best["value"], abs=1e-6)
    # a second study in the same folder is refused; `ctrkit report` on the folder redraws its report
    assert main(["tune", "--config", config, "--trials", "1", "--out", str(out)]) == 2
    assert "holds a study already" in capsys.readouterr().err
    assert main(["report", "--run", str(out)]) == 0


def test_a_trial_the_pruner_judges_hopeless_stops_early_and_is_recorded_as_pruned(tmp_path):
    config = config_file(tmp_path, {"pruner": "median", "startup_trials": 2, "train.lr": {"choice": [3e-2, 1e-7]}},
                         epochs=4, patience=5)
    out = tmp_path / "t"
    assert main(["tune", "--config", config, "--trials", "6", "--out", str(out)]) == 0
    with open(out / "trials.csv") as fh:
        trials = list(csv.DictReader(fh))
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, trials
    assert all(float(t["train.lr"]) == 1e-7 and int(t["epochs"]) < 4 for t in pruned)
    assert any(t["state"] == "complete" and int(t["epochs"]) == 4 for t in trials)


def test_parallel_trials_take_one_cuda_device_each_where_there_are_several():
    # the GPU path has not run (no GPU here): benchmarks/gpu_check.sh step 5 checks it on a machine
    assert [trial_device("cuda", k, 2) for k in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [trial_device("auto", k, 3) for k in range(4)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert trial_device("cuda", 1, 1) == "cuda" and trial_device("cuda", 1, 0) == "cuda"
    assert trial_device("cpu", 1, 2) == "cpu" and trial_device("cuda:1", 0, 2) == "cuda:1"   # as the user asked


def study_trials(folder):
    storage = f"sqlite:///{folder / 'study.db'}"
    try:
        study = optuna.load_study(study_name="ctrkit", storage=storage)
    except Exception:   # noqa: BLE001 - not created yet
        return []
    return study.get_trials(deepcopy=False)


def test_a_killed_study_resumes_with_its_trials_and_best_value(tmp_path):
    # trials slow enough (batch 512) that the kill lands mid-study: at batch 2048 a fast machine
    # finished all of them between two polls
    config = config_file(tmp_path, {"pruner": "none", "startup_trials": 2, "train.lr": {"loguniform": [1e-3, 3e-2]}},
                         epochs=3, batch_size=512)
    out = tmp_path / "t"
    command = [sys.executable, "-m", "ctrkit", "tune", "--config", config, "--trials", "6", "--out", str(out)]
    proc = subprocess.Popen(command + ["--jobs", "2"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:   # two trials done and one under way
        states = [t.state for t in study_trials(out)]
        if sum(s.is_finished() for s in states) >= 2 and TrialState.RUNNING in states:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)            # the tuner and its worker processes, mid-trial
    proc.wait()
    before = [t for t in study_trials(out) if t.state.is_finished()]
    cut = {t.number for t in study_trials(out) if t.state == TrialState.RUNNING}
    assert 2 <= len(before) < 6 and cut, [t.state.name for t in study_trials(out)]
    kept = json.loads((out / "best.json").read_text())["trial"]   # the best run kept when it was killed
    best_before = max(t.value for t in before)
    resumed = subprocess.run(command + ["--resume"], env=ENV, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    study = optuna.load_study(study_name="ctrkit", storage=f"sqlite:///{out / 'study.db'}")
    states = {t.number: t.state.name for t in study.trials}
    assert list(states.values()).count("COMPLETE") == 6       # the count went on from where it stopped
    best = json.loads((out / "best.json").read_text())
    # the trials cut short are recorded as failed, except one whose run was kept as the best before
    # Optuna could record it: that one is complete, with the value best.json gave it
    assert "RUNNING" not in states.values()
    assert all(states[n] == "FAIL" or (states[n] == "COMPLETE" and n == kept) for n in cut), (cut, kept, states)
    assert study.best_value >= best_before
    assert {t.number for t in before} <= {t.number for t in study.trials if t.state.name == "COMPLETE"}
    assert (best["trial"], best["value"]) == (study.best_trial.number, pytest.approx(study.best_value, abs=1e-9))
    # resuming with another config is refused, naming what changed
    other = config_file(tmp_path, {"train.lr": {"loguniform": [1e-3, 3e-2]}}, epochs=2)
    refused = subprocess.run([sys.executable, "-m", "ctrkit", "tune", "--config", other, "--out", str(out),
                              "--resume"], env=ENV, capture_output=True, text=True)
    assert refused.returncode == 2 and "differs from the one" in refused.stderr and "train" in refused.stderr


@pytest.mark.parametrize("path", sorted(os.listdir(os.path.join(os.path.dirname(__file__), "..", "configs"))))
def test_every_config_has_a_default_space_that_fits_its_model(path):
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", path))
    space = parse_space(config)
    assert len(space.params) >= 3 and any(p.key == "train.lr" for p in space.params)
