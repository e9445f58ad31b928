"""One pipeline from a config to a run folder: data → processor → model → trainer → metrics.

``run_experiment`` is what ``ctrkit train`` runs, and ``CTRClassifier`` runs the same steps:
``prepare_data`` (raw splits encoded by a processor fitted on train), ``train_model`` (the model,
FNN's pre-training stage included, trained with the config's options and callbacks),
``split_metrics`` and ``write_run`` (the run-folder layout of ``ctrkit.runs``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import yaml

from .config import ConfigError, dump_config, flatten, model_kwargs, train_config
from .datasets import PreparedDataset, RawDataset, load_dataset, prepare
from .datasets.base import skipped_rows, split_table
from .datasets.parallel import Peers, prepare_together
from .datasets.files import files_dataset
from .errors import CTRKitError, DataError
from .features.feature_map import FeatureMap
from .features.processor import Processor
from .models import FNN, CTRModel, build_model
from .models.base import COMMON, parameter_bytes
from .runs import run_config
from .train.callbacks import Callback, write_history
from .train import distributed
from .train.checkpoint import save_weights
from .train.device import available_memory
from .train.trainer import Trainer

RESUMABLE_CHANGES = ("train.epochs", "train.progress")   # the keys --resume lets a config change


def raw_dataset(config: Dict[str, Any]) -> RawDataset:
    """The raw splits and schema that ``config['data']`` describes (holding out valid if needed)."""
    data, seed = config["data"], config["seed"]
    if data["dataset"]:
        files = {k: data[k] for k in ("train", "valid", "test") if data[k]}
        raw = load_dataset(data["dataset"], **{"seed": seed, **files, **data["options"]})
    else:
        raw = files_dataset(data)
        print(raw.schema.describe())
    return with_valid_split(raw, data["valid_fraction"], seed)


def with_valid_split(raw: RawDataset, fraction: float, seed: int) -> RawDataset:
    """``raw`` with ``fraction`` of its train rows held out as ``valid`` (stratified by a binary
    label) when it has no valid split."""
    if "valid" in raw.splits:
        return raw
    table, lines = raw.splits["train"].read_all_with_lines()
    label = raw.schema.label if raw.schema.task == "binary" else None
    parts = split_table(table, {"train": 1 - fraction, "valid": fraction}, seed, name=raw.splits["train"].name,
                        stratify=label, on_bad_rows=raw.splits["train"].on_bad_rows, lines=lines)
    raw.splits = {**parts, **{k: v for k, v in raw.splits.items() if k != "train"}}
    return raw


def run_dir(config: Dict[str, Any]) -> str:
    data = config["data"]
    name = data["dataset"] or (os.path.basename(os.path.normpath(data["prepared"])) if data["prepared"] else "custom")
    return config["out"] or os.path.join("runs", f"{name}_{config['model']['name']}")


def check_resume(config: Dict[str, Any], folder: str) -> None:
    """Refuse to resume the run in ``folder`` with a config that differs from the one it started
    with, except in ``RESUMABLE_CHANGES``; the error lists the keys that differ."""
    path = os.path.join(folder, "config.yaml")
    if not os.path.exists(path):
        raise CTRKitError(f"nothing to resume: {path} does not exist")
    before = flatten(run_config(folder))
    now = flatten(yaml.safe_load(stored_config(config)))
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k) and k not in RESUMABLE_CHANGES
                     and k != "out" and not k.startswith("train.distributed."))
    if changed:
        details = "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ConfigError(f"--resume: the config differs from the one {folder} started with ({details}); "
                          f"only {', '.join(RESUMABLE_CHANGES)} may change, or train into a new --out")


def stored_config(config: Dict[str, Any]) -> str:
    """The YAML of a run's config.yaml: the config without ``out``, so that training from a copy of
    it never writes into the run it came from (the folder itself says where the run is)."""
    return dump_config({**config, "out": None})


RUN_FILES = ("config.yaml", "processor.json", "model.safetensors", "metrics.json", "history.csv", "report.html",
             "model.onnx", "model-int8.onnx", "data", "checkpoint", "checkpoint.old", "checkpoint.tmp", "pretrain",
             "plots", "tensorboard")


def clear_run(folder: str, overwrite: bool) -> None:
    """Make ``folder`` ready for a new run: refuse one that holds a run unless ``overwrite``, then
    remove the run's files (and only those: ``RUN_FILES``)."""
    present = [name for name in RUN_FILES if os.path.exists(os.path.join(folder, name))]
    if not present:
        return
    if not overwrite:
        raise CTRKitError(f"{folder} holds a run already ({', '.join(present[:4])}, ...): --resume continues it, "
                          "--overwrite replaces it, or give another --out")
    for name in present:
        path = os.path.join(folder, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def run_experiment(config: Dict[str, Any], resume: bool = False, prepared: Optional[PreparedDataset] = None,
                   callbacks: Sequence[Callback] = (), overwrite: bool = False) -> Dict[str, Any]:
    """Train as ``config`` says and write the run folder; returns the metrics (metrics.json's content).

    Args:
        config: a validated config (``load_config``).
        resume: continue the run in the folder from its last checkpoint (its data is reused).
        prepared: data already prepared (e.g. by a tuner that trains many times on it); default:
            prepared from ``config['data']`` into the run's ``data/`` folder.
        callbacks: the user's own training callbacks.
        overwrite: replace a run already in the folder (without it, and without ``resume``, a
            folder that holds a run is refused and left as it is).

    Under torchrun every process calls it: rank 0 readies the folder, all prepare the data
    together (each its share of the rows; then they read it memory-mapped) and train together, and
    rank 0 writes the run folder, which has the layout of a one-process run.
    """
    out = run_dir(config)
    created = distributed.on_main(lambda: _ready_folder(config, out, resume, overwrite))
    try:
        if prepared is None:
            folder = os.path.join(out, "data")
            prepared = prepare_data(config, folder, reuse=resume, peers=distributed.peers())
        trainer = train_model(config, prepared, out, resume, callbacks)
    except BaseException:
        if distributed.group().main and not resume and not os.path.exists(os.path.join(out, "checkpoint")):
            clear_run(out, overwrite=True)   # nothing to resume: leave no half-made run behind
            if created and not os.listdir(out):
                os.rmdir(out)
        raise
    metrics = split_metrics(config, trainer, prepared.splits)
    distributed.on_main(lambda: write_run(out, config, prepared.processor, trainer.model, metrics))
    return metrics


def _ready_folder(config: Dict[str, Any], out: str, resume: bool, overwrite: bool) -> bool:
    """Check (resume) or clear the run folder ``out`` and write its config.yaml; whether it was created."""
    if resume:
        check_resume(config, out)
    else:
        clear_run(out, overwrite)
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(stored_config(config))
    return created


def prepare_data(config: Dict[str, Any], folder: Optional[str] = None, reuse: bool = False,
                 peers: Optional[Peers] = None) -> PreparedDataset:
    """The config's data, encoded into ``folder`` (memory-mapped; in memory without a folder);
    ``reuse`` loads what an earlier run prepared there; ``peers``: the processes that prepare it
    together (into a folder)."""
    if config["data"]["prepared"]:
        return PreparedDataset.load(config["data"]["prepared"])
    if reuse and folder is not None and os.path.exists(os.path.join(folder, "processor.json")):
        return PreparedDataset.load(folder)
    if peers is not None and folder is not None:
        prepared = prepare_together(raw_dataset(config), folder, peers, seed=config["seed"])
    else:
        prepared = prepare(raw_dataset(config), folder, seed=config["seed"])
    if peers is None or peers.rank == 0:
        for line in skipped_rows(prepared.splits):
            print(line)
    return prepared


def train_model(config: Dict[str, Any], prepared: PreparedDataset, out: Optional[str] = None, resume: bool = False,
                callbacks: Sequence[Callback] = ()) -> Trainer:
    """Build the config's model (seeded) and train it on ``prepared``; returns the trainer, whose
    model holds the best weights. With ``out``: history and checkpoints go there."""
    cfg = train_config(config)
    check_labels(prepared)
    check_memory(config, prepared)
    torch.manual_seed(config["seed"])
    model = _model(config, prepared, out, resume)
    trainer = Trainer(model, cfg, out_dir=out, callbacks=callbacks)
    trainer.fit(prepared.splits["train"], prepared.splits.get("valid"), resume=resume)
    return trainer


def check_labels(prepared: PreparedDataset) -> None:
    """Refuse a click model whose train labels hold one class (nothing to learn, AUC undefined);
    warn when the valid split does (its AUC cannot guide early stopping)."""
    schema = prepared.processor.schema
    if schema.task != "binary":
        return
    for name in ("train", "valid"):
        split = prepared.splits.get(name)
        if split is None or split.label is None or not len(split):
            continue
        classes = np.unique(np.asarray(split.label))
        if len(classes) > 1:
            continue
        message = (f"the label {schema.label!r} is {classes[0]:g} in all {len(split):,} {name} rows "
                   f"({split.info.get('source', name)}); a click model needs rows of both 0 and 1: check the label "
                   "column and its label_map")
        if name == "train":
            raise DataError(message)
        print(f"warning: {message}; valid AUC is undefined (nan) and cannot guide early stopping: "
              "set train.monitor=logloss", file=sys.stderr)


def check_memory(config: Dict[str, Any], prepared: PreparedDataset) -> None:
    """Refuse, before allocating it, a model whose parameters (and their gradients and optimizer
    state, ~4× them) do not fit in the memory this machine has left; the message says how much the
    model and its embedding table need."""
    available = available_memory()
    if available is None or str(config["train"]["device"]).startswith("cuda"):
        return
    fmap = prepared.processor.feature_map(vectors=False)
    try:
        size = parameter_bytes(config["model"]["name"], fmap, **model_kwargs(config))
    except Exception:   # noqa: BLE001 - an estimate only: the real build reports its own errors
        return
    if 4 * size["total"] <= available:
        return
    dim = config["model"].get("embedding_dim", "the default")
    raise CTRKitError(
        f"model {config['model']['name']!r} needs {_gb(size['total'])} for its parameters (the embedding table "
        f"{_gb(size['embeddings'])}: {fmap.vocab_size:,} rows × embedding_dim {dim}) and about 4× that to train "
        f"({_gb(4 * size['total'])}); this machine has {_gb(available)} available. Lower model.embedding_dim, "
        "raise the fields' min_count, or bucket numeric fields")


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _built(name: str, fmap: FeatureMap, options: Dict[str, Any]) -> CTRModel:
    """``build_model``, its refusals of the options (a value out of range, a field a model cannot
    use) as ``ConfigError``."""
    try:
        return build_model(name, fmap, **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from exc


def _model(config: Dict[str, Any], prepared: PreparedDataset, out: Optional[str], resume: bool) -> CTRModel:
    fmap = prepared.processor.feature_map()
    options = model_kwargs(config)
    pre = config["pretrain"]
    if pre is None:
        return _built(config["model"]["name"], fmap, options)
    # FNN's two-stage recipe: train an FM on the same data, then start the FNN from its embeddings.
    common = {k: options[k] for k in COMMON if k in options}
    fm = _built(pre["model"], fmap, common)
    stage_dir = os.path.join(out, "pretrain") if out is not None else None
    fm_cfg = train_config({**config, "train": {**config["train"], "epochs": pre["epochs"]}})
    resume_stage = resume and stage_dir is not None and os.path.exists(os.path.join(stage_dir, "checkpoint"))
    say = print if fm_cfg.progress and distributed.group().main else (lambda *a, **k: None)
    say(f"FNN stage 1 of 2: pre-training {pre['model'].upper()} for {pre['epochs']} epochs; its embeddings start "
        "the FNN", file=sys.stderr)
    Trainer(fm, fm_cfg, out_dir=stage_dir).fit(prepared.splits["train"], prepared.splits.get("valid"),
                                               resume=resume_stage)
    say(f"FNN stage 2 of 2: training the FNN from those embeddings ({'frozen' if pre['freeze'] else 'fine-tuned'})",
        file=sys.stderr)
    return FNN.from_fm(fm, freeze=pre["freeze"], **options)


def split_metrics(config: Dict[str, Any], trainer: Trainer, splits: Dict[str, Any]) -> Dict[str, Any]:
    """metrics.json: the model name, metrics of the labelled valid and test splits, and training
    totals (epochs, best epoch, steps, seconds, samples/s)."""
    history = trainer.history
    seconds = float(sum(r["seconds"] for r in history))
    samples = float(sum(r["seconds"] * r["samples_per_second"] for r in history))
    out: Dict[str, Any] = {"model": config["model"]["name"]}
    for name in ("valid", "test"):
        if name in splits and splits[name].label is not None:
            out[name] = trainer.evaluate(splits[name])
    out["train"] = {"epochs": int(np.ceil(history[-1]["epoch"])) if history else 0, "best_epoch": trainer.best_epoch,
                    "steps": trainer.step, "seconds": seconds, "samples_per_second": samples / seconds if seconds else 0.0,
                    "precision": trainer.precision, "precision_reason": trainer.bf16_reason,
                    "processes": trainer.group.world_size}
    return out


def write_run(folder: str, config: Dict[str, Any], processor: Processor, model: CTRModel, metrics: Dict[str, Any],
              history: Optional[List[Dict[str, float]]] = None) -> None:
    """The run-folder files that ``ctrkit.runs.load_run`` reads: config.yaml, processor.json,
    model.safetensors (the model's weights now), metrics.json and, when given, history.csv."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.yaml"), "w") as fh:
        fh.write(stored_config(config))
    processor.save(os.path.join(folder, "processor.json"))
    save_weights(os.path.join(folder, "model.safetensors"), model.state_dict())
    if history is not None:
        write_history(folder, history)
    with open(os.path.join(folder, "metrics.json"), "w") as fh:
        json.dump(metrics, fh, indent=1)
