"""``ctrkit tune``: an Optuna study over a config's ``tune:`` space, kept in TUNE/study.db.

Each trial is a run of ``run_experiment`` on data prepared once (TUNE/data/KEY, one folder per
distinct ``data`` section, shared by every trial and every process); a pruner (median or
Hyperband) reads the monitored validation score after each evaluation through a trainer callback.
The tune folder holds:

- ``study.db``: the study (SQLite): a killed study resumes with ``--resume``;
- ``tune.yaml``: the config tuned (a resumed study must be given the same one);
- ``trials.csv``: every trial's number, state, value, parameters, epochs and seconds;
- ``best/``: the run folder of the best trial; ``best.yaml``: its full config, which
  ``ctrkit train --config best.yaml`` reproduces; ``best.json``: its number and value;
- ``report.html``: optimisation history, parameter importances and slice plots.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Dict, Iterator, Optional

import yaml

from ..config import ConfigError, flatten
from ..errors import CTRKitError
from ..experiment import prepare_data, run_experiment, stored_config
from ..train.callbacks import Callback
from ..train.device import cores
from ..train.options import monitor_value
from .space import Space, parse_space

STUDY = "ctrkit"


class TuneError(CTRKitError):
    """A tune folder or its study cannot be used as asked."""


def tune(config: Dict[str, Any], folder: str, trials: Optional[int] = None, jobs: int = 1,
         timeout: Optional[float] = None, resume: bool = False) -> Dict[str, Any]:
    """Search ``config``'s ``tune:`` space; returns the summary (best trial, its value and config).

    Args:
        config: a validated config with a ``tune:`` section (``ctrkit.config.load_config``).
        folder: the tune folder (created; one that holds a study needs ``resume``).
        trials: finished (complete or pruned) trials the study should hold; default ``tune.trials``.
        jobs: trials run in parallel processes, each with cores/jobs torch threads; with
            ``train.device`` ``cuda`` or ``auto`` on a machine with several CUDA devices, process k
            trains its trials on ``cuda:(k mod devices)`` (see ``trial_device``).
        timeout: stop starting trials after this many seconds.
        resume: continue the study in ``folder`` (trials that were running when it stopped are
            recorded as failed; the count of finished trials and the best value carry on).
    """
    import optuna

    space = parse_space(config)
    trials = trials or space.settings["trials"]
    if jobs < 1 or trials < 1:
        raise TuneError(f"--jobs and --trials: expected at least 1, got {jobs} and {trials}")
    db = os.path.join(folder, "study.db")
    _check_folder(config, folder, resume)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tune.yaml"), "w") as fh:
        fh.write(stored_config(config))
    storage = f"sqlite:///{os.path.abspath(db)}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize", load_if_exists=resume)
    if resume:
        _fail_interrupted(study, folder)
    done = _finished(study)
    print(f"tuning {config['model']['name']} in {folder}: {len(space.params)} keys, {trials} trials "
          f"({done} finished before), {jobs} job(s); pruner {space.settings['pruner']}", file=sys.stderr)
    deadline = time.time() + timeout if timeout else None
    job = {"config": config, "folder": folder, "storage": storage, "trials": trials, "deadline": deadline,
           "threads": max(1, cores() // jobs) if jobs > 1 else 0,
           "devices": cuda_devices() if jobs > 1 and config["train"]["device"] in ("auto", "cuda") else 0}
    if jobs == 1:
        _work(job, 0)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for result in [pool.submit(_work, job, k) for k in range(jobs)]:
                result.result()
    study = optuna.load_study(study_name=STUDY, storage=storage)
    write_trials(study, os.path.join(folder, "trials.csv"))
    from ..report import write_report
    from .report import write_tune_report

    if os.path.exists(os.path.join(folder, "best", "model.safetensors")):
        write_report(os.path.join(folder, "best"))
    write_tune_report(folder, study)
    return summary(study, folder)


def _check_folder(config: Dict[str, Any], folder: str, resume: bool) -> None:
    db = os.path.join(folder, "study.db")
    if resume:
        if not os.path.exists(db):
            raise TuneError(f"nothing to resume: {db} does not exist")
        with open(os.path.join(folder, "tune.yaml")) as fh:
            before = flatten(yaml.safe_load(fh))
        now = flatten(yaml.safe_load(stored_config(config)))
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            details = "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise ConfigError(f"--resume: the config differs from the one {folder} started with ({details}); "
                              "tune it into a new --out")
    elif os.path.exists(db):
        raise TuneError(f"{folder} holds a study already: --resume continues it, or give another --out")


def _fail_interrupted(study: Any, folder: str) -> None:
    """Trials left running by a killed study are recorded as failed, except the one best.json
    names: it finished and its run was kept as the best, and only Optuna's record of it was cut
    short, so it is recorded as complete with that value (best.json and the study agree)."""
    from optuna.trial import TrialState

    record = os.path.join(folder, "best.json")
    best = None
    if os.path.exists(record):
        with open(record) as fh:
            best = json.load(fh)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if best is not None and trial.number == best["trial"]:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [best["value"]])
        else:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _work(job: Dict[str, Any], worker: int) -> None:
    """One process's share of the study: trials until the study holds ``job['trials']`` finished ones."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    config = job["config"]
    space = parse_space(config)
    startup = space.settings["startup_trials"]
    sampler = optuna.samplers.TPESampler(seed=config["seed"] + 1000 * worker + _finished_in(job), n_startup_trials=startup)
    study = optuna.load_study(study_name=STUDY, storage=job["storage"], sampler=sampler, pruner=_pruner(space))
    left = job["trials"] - _finished(study)
    if left <= 0:
        return
    timeout = None if job["deadline"] is None else max(0.0, job["deadline"] - time.time())
    study.optimize(lambda trial: _trial(trial, space, {**job, "worker": worker}), timeout=timeout,
                   catch=(CTRKitError, ValueError),
                   callbacks=[MaxTrialsCallback(job["trials"], states=(TrialState.COMPLETE, TrialState.PRUNED))])


def cuda_devices() -> int:
    """How many CUDA devices this machine has (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def trial_device(device: str, worker: int, devices: int) -> str:
    """The device worker ``worker``'s trials train on: one trial per CUDA device when ``devices`` > 1
    and ``train.device`` is ``auto`` or ``cuda`` (worker k takes ``cuda:(k mod devices)``), else
    ``device`` as configured."""
    if devices > 1 and device in ("auto", "cuda"):
        return f"cuda:{worker % devices}"
    return device


def _finished_in(job: Dict[str, Any]) -> int:
    """A resumed study's sampler gets another seed than the first start's (else it repeats its draws)."""
    import optuna

    return len(optuna.load_study(study_name=STUDY, storage=job["storage"]).get_trials(deepcopy=False))


def _pruner(space: Space) -> Any:
    import optuna

    name, startup = space.settings["pruner"], space.settings["startup_trials"]
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


class Pruning(Callback):
    """Reports the monitored validation score of each evaluation to the Optuna trial and stops
    training when the pruner says the trial is not going to win."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor
        self.evaluations = 0
        self.pruned = False

    def on_evaluate(self, trainer: Any, row: Dict[str, float]) -> None:
        metrics = {k[len("valid_"):]: v for k, v in row.items() if k.startswith("valid_")}
        if not metrics:
            return
        self.evaluations += 1
        self.trial.report(monitored(metrics, self.monitor), self.evaluations)
        if self.trial.should_prune():
            self.pruned = True
            trainer.stop_training = True


def monitored(metrics: Dict[str, float], monitor: str) -> float:
    """The score a trial is judged by: the run's ``train.monitor`` (``auto``: AUC, or minus MSE for
    regression), larger is better."""
    if monitor == "auto":
        monitor = "auc" if "auc" in metrics else "mse"
    return monitor_value(metrics, monitor)


def _trial(trial: Any, space: Space, job: Dict[str, Any]) -> float:
    """Train the trial's config on the shared data; its value is the monitored validation score."""
    import optuna

    base, folder = job["config"], job["folder"]
    values = {p.key: p.suggest(trial) for p in space.params}
    config = space.apply(base, values)
    if job["threads"] and not config["train"]["threads"]:
        config["train"]["threads"] = job["threads"]
    config["train"]["device"] = trial_device(config["train"]["device"], job["worker"], job["devices"])
    trial.set_user_attr("device", config["train"]["device"])
    out = os.path.join(folder, "trials", f"{trial.number:04d}")
    config["out"] = out
    config["train"]["progress"] = False
    prepared = shared_data(config, folder)
    pruning = Pruning(trial, config["train"]["monitor"])
    start = time.perf_counter()
    try:
        metrics = run_experiment(config, prepared=prepared, callbacks=[pruning], overwrite=True)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
    trial.set_user_attr("epochs", metrics["train"]["epochs"])
    if pruning.pruned:
        shutil.rmtree(out, ignore_errors=True)
        print(f"trial {trial.number}: pruned after {pruning.evaluations} evaluation(s)", file=sys.stderr)
        raise optuna.TrialPruned()
    if "valid" not in metrics:
        shutil.rmtree(out, ignore_errors=True)
        raise TuneError("tuning needs a valid split with labels (data.valid or data.valid_fraction)")
    value = monitored(metrics["valid"], config["train"]["monitor"])
    best = _keep_if_best(folder, out, trial.number, value, {**config, "train": {
        **config["train"], **{k: base["train"][k] for k in ("threads", "progress", "device")}}})
    print(f"trial {trial.number}: {value:.5f}{' (best so far)' if best else ''} {values}", file=sys.stderr)
    return value


def shared_data(config: Dict[str, Any], folder: str) -> Any:
    """The trial's data, prepared once per distinct ``data`` section (and seed) into TUNE/data/KEY
    and memory-mapped by every trial and process after that."""
    key = hashlib.sha1(json.dumps([config["data"], config["seed"]], sort_keys=True, default=str).encode())
    target = os.path.join(folder, "data", key.hexdigest()[:12])
    with _locked(os.path.join(folder, ".data.lock")):
        if not os.path.exists(os.path.join(target, "dataset.json")):
            shutil.rmtree(target, ignore_errors=True)
            prepare_data(config, target)
    return prepare_data(config, target, reuse=True)


def _keep_if_best(folder: str, out: str, number: int, value: float, config: Dict[str, Any]) -> bool:
    """Move the trial's run to TUNE/best (and its config to best.yaml) when it beats the best so
    far; otherwise remove it. Returns whether it did."""
    best_dir, record = os.path.join(folder, "best"), os.path.join(folder, "best.json")
    with _locked(os.path.join(folder, ".best.lock")):
        previous = None
        if os.path.exists(record):
            with open(record) as fh:
                previous = json.load(fh)["value"]
        if previous is not None and not value > previous:
            shutil.rmtree(out, ignore_errors=True)
            return False
        shutil.rmtree(best_dir, ignore_errors=True)
        os.replace(out, best_dir)
        with open(record, "w") as fh:
            json.dump({"trial": number, "value": value}, fh)
        with open(os.path.join(best_dir, "config.yaml"), "w") as fh:
            fh.write(stored_config(config))
        with open(os.path.join(folder, "best.yaml"), "w") as fh:
            fh.write(f"# trial {number} of {os.path.basename(os.path.normpath(folder))}: valid score {value:.6f}; "
                     "ctrkit train --config best.yaml reproduces it\n")
            fh.write(stored_config(config))
        return True


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_trials(study: Any, path: str) -> None:
    """trials.csv: one line per trial (number, state, value, seconds, epochs, the device it trained on,
    then the parameters)."""
    trials = study.get_trials(deepcopy=False)
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    with open(path + ".tmp", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["number", "state", "value", "seconds", "epochs", "device", *keys])
        for t in trials:
            writer.writerow([t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.6f}",
                             t.user_attrs.get("seconds", ""), t.user_attrs.get("epochs", ""),
                             t.user_attrs.get("device", ""),
                             *(t.params.get(k, "") for k in keys)])
    os.replace(path + ".tmp", path)


def summary(study: Any, folder: str) -> Dict[str, Any]:
    """The study in numbers: trials by state, the best trial, its value and parameters."""
    states: Dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    out: Dict[str, Any] = {"folder": folder, "trials": states}
    record = os.path.join(folder, "best.json")
    if os.path.exists(record):
        with open(record) as fh:
            best = json.load(fh)
        params = study.trials[best["trial"]].params
        out.update(best=best["trial"], value=best["value"], params=params,
                   run=os.path.join(folder, "best"), config=os.path.join(folder, "best.yaml"))
    return out


def is_tune_folder(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, "study.db"))


__all__ = ["Pruning", "TuneError", "is_tune_folder", "shared_data", "summary", "tune", "write_trials"]
