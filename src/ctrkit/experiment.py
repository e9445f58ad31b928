"""Running an experiment end to end (data → processor → model → trainer → metrics), and loading
a finished run back for evaluation, prediction and reports.

A run folder holds ``config.yaml`` (resolved), ``processor.json``, ``data/`` (encoded splits),
``checkpoint/``, ``model.safetensors`` (the best weights), ``history.csv`` and ``metrics.json``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
import yaml

from .config import dump_config, model_kwargs, train_config
from .data.datasets import PreparedDataset, RawDataset, load_dataset, prepare
from .data.datasets.base import split_table
from .data.readers import open_source
from .data.store import EncodedArrays
from .errors import CTRKitError
from .export import predictor
from .features.infer import infer_schema
from .features.processor import Processor
from .features.spec import Schema
from .models import FNN, CTRModel, build_model
from .train.checkpoint import load_weights, save_weights
from .train.trainer import Trainer, evaluate


def raw_dataset(config: Dict[str, Any]) -> RawDataset:
    """The raw splits and schema that ``config['data']`` describes (holding out valid if needed)."""
    data, seed = config["data"], config["seed"]
    if data["dataset"]:
        raw = load_dataset(data["dataset"], seed=seed, **data["options"])
    else:
        read = dict(data["read"])
        splits = {name: open_source(data[name], **read) for name in ("train", "valid", "test") if data[name]}
        raw = RawDataset("custom", build_schema(data, splits["train"]), splits,
                         {"files": {k: data[k] for k in ("train", "valid", "test") if data[k]}})
        print(raw.schema.describe())
    if "valid" not in raw.splits:
        table = raw.splits["train"].read_all()
        label = raw.schema.label if raw.schema.task == "binary" else None
        parts = split_table(table, {"train": 1 - data["valid_fraction"], "valid": data["valid_fraction"]}, seed,
                            name=raw.splits["train"].name, stratify=label)
        raw.splits = {**parts, **{k: v for k, v in raw.splits.items() if k != "train"}}
    return raw


def build_schema(data: Dict[str, Any], train: Any) -> Schema:
    """The schema of user files from a config's ``data`` section: a schema (mapping or YAML path),
    the field lists, or, with only a label, one inferred from the ``train`` source."""
    if data["schema"] is not None:
        spec = data["schema"]
        if isinstance(spec, str):
            with open(spec) as fh:
                spec = yaml.safe_load(fh)
        return Schema.from_dict(spec)
    if not data["label"]:
        raise CTRKitError("data.label is required for your own files (or give data.schema)")
    if data["categorical"] or data["numeric"] or data["sequence"]:
        sequence = dict(s.split(":", 1) if ":" in s else (s, "|") for s in data["sequence"])
        return Schema.from_columns(data["label"], data["categorical"], data["numeric"], sequence,
                                   label_map=data["label_map"])
    print("schema inferred from the data (`ctrkit schema` writes it as YAML to edit and pass back):")
    return infer_schema(train, data["label"], label_map=data["label_map"])


def run_dir(config: Dict[str, Any]) -> str:
    name = config["data"]["dataset"] or "custom"
    return config["out"] or os.path.join("runs", f"{name}_{config['model']['name']}")


def run_experiment(config: Dict[str, Any], resume: bool = False) -> Dict[str, Any]:
    """Train as ``config`` says, write the run folder, return the metrics (metrics.json's content)."""
    out = run_dir(config)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write(dump_config(config))
    data_dir = os.path.join(out, "data")
    if resume and os.path.exists(os.path.join(data_dir, "processor.json")):
        prepared = PreparedDataset.load(data_dir)
    else:
        prepared = prepare(raw_dataset(config), data_dir, seed=config["seed"])
    prepared.processor.save(os.path.join(out, "processor.json"))
    splits = prepared.splits
    cfg = train_config(config)
    torch.manual_seed(config["seed"])
    model = _model(config, prepared, cfg, out, resume)
    trainer = Trainer(model, cfg, out_dir=out)
    trainer.fit(splits["train"], splits.get("valid"), resume=resume)
    save_weights(os.path.join(out, "model.safetensors"), model.state_dict())
    metrics = _metrics(config, trainer, splits)
    with open(os.path.join(out, "metrics.json"), "w") as fh:
        json.dump(metrics, fh, indent=1)
    return metrics


def _model(config: Dict[str, Any], prepared: PreparedDataset, cfg: Any, out: str, resume: bool) -> CTRModel:
    fmap = prepared.processor.feature_map()
    options = model_kwargs(config)
    pre = config["pretrain"]
    if pre is None:
        return build_model(config["model"]["name"], fmap, **options)
    # FNN's two-stage recipe: train an FM on the same data, then start the FNN from its embeddings.
    common = {k: options[k] for k in ("embedding_dim", "sparse", "init_std", "embedding_l2") if k in options}
    fm = build_model(pre["model"], fmap, **common)
    stage_dir = os.path.join(out, "pretrain")
    fm_cfg = train_config({**config, "train": {**config["train"], "epochs": pre["epochs"]}})
    Trainer(fm, fm_cfg, out_dir=stage_dir).fit(prepared.splits["train"], prepared.splits.get("valid"),
                                               resume=resume and os.path.exists(os.path.join(stage_dir, "checkpoint")))
    return FNN.from_fm(fm, freeze=pre["freeze"], **options)


def _metrics(config: Dict[str, Any], trainer: Trainer, splits: Dict[str, Any]) -> Dict[str, Any]:
    history = trainer.history
    seconds = float(sum(r["seconds"] for r in history))
    samples = float(sum(r["seconds"] * r["samples_per_second"] for r in history))
    out: Dict[str, Any] = {"model": config["model"]["name"]}
    for name in ("valid", "test"):
        if name in splits and splits[name].label is not None:
            out[name] = trainer.evaluate(splits[name])
    out["train"] = {"epochs": int(np.ceil(history[-1]["epoch"])) if history else 0, "best_epoch": trainer.best_epoch,
                    "steps": trainer.step, "seconds": seconds, "samples_per_second": samples / seconds if seconds else 0.0}
    return out


@dataclass
class Run:
    """A finished run loaded back: its config, processor and model (best weights)."""

    folder: str
    config: Dict[str, Any]
    processor: Processor
    model: CTRModel
    engine: str = "auto"     # prediction engine: auto | onnx | onnx-int8 | torch (see ctrkit.export.predictor)
    _predict: Optional[Callable[[EncodedArrays], np.ndarray]] = field(default=None, repr=False)

    def evaluate(self, data: Any, label_map: Optional[Dict[str, float]] = None, **read_options: Any
                 ) -> Dict[str, float]:
        """Metrics on labelled data; ``label_map`` replaces the schema's (labels written differently)."""
        processor = self.processor
        if label_map is not None:
            processor = Processor.load_dict({**processor.to_dict(), "schema": {**processor.schema.to_dict(),
                                                                                 "label_map": label_map}})
        return evaluate(self.model, processor.transform(data, **read_options), bf16=self.bf16)

    @property
    def bf16(self) -> bool:
        """Whether the run trained with bfloat16 autocast; its predictions use it too."""
        return bool(self.config.get("train", {}).get("bf16", False))

    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (or regression predictions) for encoded rows, float64 [N], by ``engine``
        (the model is exported to ONNX Runtime once, on the first call, where that is used)."""
        if self._predict is None:
            self._predict = predictor(self.model, self.engine, self.bf16)
        return self._predict(data)

    def split(self, name: str) -> Optional[Any]:
        folder = os.path.join(self.folder, "data", name)
        if not os.path.isdir(folder):
            return None
        from .data.store import read_split
        return read_split(folder)


def load_run(folder: str, engine: str = "auto") -> Run:
    path = os.path.join(folder, "config.yaml")
    if not os.path.exists(path) or not os.path.exists(os.path.join(folder, "model.safetensors")):
        raise CTRKitError(f"{folder}: not a finished run (expected config.yaml and model.safetensors)")
    with open(path) as fh:
        config = yaml.safe_load(fh)
    processor = Processor.load(os.path.join(folder, "processor.json"))
    model = build_model(config["model"]["name"], processor.feature_map(), **model_kwargs(config))
    model.load_state_dict(load_weights(os.path.join(folder, "model.safetensors")))
    model.eval()
    return Run(folder, config, processor, model, engine)
