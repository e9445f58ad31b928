"""A finished run folder loaded back: evaluation, prediction in memory and into files.

A run folder holds ``config.yaml`` (resolved), ``processor.json``, ``data/`` (encoded splits),
``checkpoint/``, ``model.safetensors`` (the best weights), ``history.csv`` and ``metrics.json``.
Everything a loaded run needs is in the folder: pretrained vectors, for one, are read from the
weights, not from the file they first came from.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pyarrow as pa
import yaml

from .config import model_kwargs
from .errors import CTRKitError, reading
from .datasets import DATASETS
from .features.processor import Processor
from .inference import Predictor, evaluate, output_name
from .io.readers import Source, open_source
from .io.store import EncodedArrays, read_split
from .io.writers import TableWriter, output_format
from .models import CTRModel, build_model
from .train.checkpoint import load_weights
from .train.device import resolve_bf16


@dataclass
class Run:
    """A finished run: its config, processor and model (best weights, eval mode).

    Thread-safe: ``evaluate``, ``predict`` and ``predict_file`` keep no per-call state on the run,
    and the prediction engine is built once, on the first call (``inference.Predictor``).

    Args:
        folder: the run folder.
        config: its resolved config.
        processor: the fitted processor (raw rows → encoded arrays).
        model: the model with the best weights.
        engine: the prediction engine: ``auto``, ``torch``, ``onnx`` or ``onnx-int8``.
    """

    folder: str
    config: Dict[str, Any]
    processor: Processor
    model: CTRModel
    engine: str = "auto"
    predictor: Predictor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.predictor = Predictor(self.model, self.engine, self.bf16)

    @property
    def bf16(self) -> bool:
        """Whether predictions run under bfloat16 autocast: the run's ``train.bf16`` (true or
        false), or for ``auto`` (null) bfloat16 where this machine computes it natively and the
        model gains from it (``train.device.resolve_bf16``)."""
        return resolve_bf16(self.config.get("train", {}).get("bf16"), self.model, self.model.device)[0]

    def evaluate(self, data: Any, label_map: Optional[Dict[str, float]] = None, **read_options: Any
                 ) -> Dict[str, float]:
        """Metrics on labelled raw rows; ``label_map`` replaces the schema's (labels written differently)."""
        processor = self.processor
        if label_map is not None:
            processor = Processor.load_dict({**processor.to_dict(), "schema": {**processor.schema.to_dict(),
                                                                                 "label_map": label_map}})
        return evaluate(self.model, processor.transform(self.open_data(data, **read_options)), bf16=self.bf16)

    def open_data(self, data: Any, **read_options: Any) -> Source:
        """``data`` as a source, read as the run's training data was unless ``read_options`` say
        otherwise: in a built-in dataset's own layout (Frappe's libFM, Criteo's TSV, ...), or with
        the separator, header and column names the run was trained with."""
        if not isinstance(data, (str, os.PathLike)):
            return open_source(data, **read_options)
        dataset, read = self.data_format()
        entry = DATASETS.get(dataset) if dataset else None
        if entry is not None and entry.open_file is not None and set(read_options) <= {"on_bad_rows"}:
            return entry.open_file(os.fspath(data), **read_options)
        return open_source(data, **{**read, **read_options})

    def data_format(self) -> Tuple[Optional[str], Dict[str, Any]]:
        """The built-in dataset the run was trained on (None for your own files) and the reader
        options its files were read with."""
        data = self.config.get("data", {})
        if data.get("prepared"):
            info_path = os.path.join(data["prepared"], "dataset.json")
            info = {}
            if os.path.exists(info_path):
                with open(info_path) as fh:
                    info = json.load(fh)
            return info.get("name"), dict(info.get("read") or {})
        read = {k: v for k, v in (data.get("read") or {}).items() if k != "on_bad_rows"}
        return data.get("dataset"), read

    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (or regression predictions) for encoded rows, float64 [N], by ``engine``."""
        return self.predictor(data)

    def predict_file(self, input_path: str, output_path: str, **read_options: Any) -> int:
        """Write ``output_path`` (CSV, Parquet or JSON lines, by its extension): the input's columns
        plus ``probability`` (``prediction`` for regression), chunk by chunk, so memory stays bounded by
        the reader's chunk size. Returns the number of rows."""
        output_format(output_path)
        source = self.open_data(input_path, **read_options)
        column = output_name(self.model)
        writer, rows = None, 0
        try:
            for chunk, block in self.processor.iter_encoded(source, ignore_label=True):
                p = self.predict(EncodedArrays(block["cat"], block["num"], block["seq"], None))
                table = pa.Table.from_batches([chunk.batch]).append_column(column, pa.array(p.astype(np.float64)))
                writer = writer or TableWriter(output_path)
                writer.write(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows

    def split(self, name: str) -> Optional[EncodedArrays]:
        """An encoded split of the run's data (``train``, ``valid``, ``test``), or None."""
        folder = os.path.join(self.folder, "data", name)
        return read_split(folder) if os.path.isdir(folder) else None


def run_config(folder: str) -> Dict[str, Any]:
    """The config.yaml of the run in ``folder``, checked to be a run's config."""
    path = os.path.join(folder, "config.yaml")
    with reading(path, "run's config"):
        with open(path) as fh:
            config = yaml.safe_load(fh)
        if not isinstance(config, dict) or not isinstance(config.get("model"), dict) \
                or not config["model"].get("name"):
            raise ValueError("expected a mapping with model.name")
    return config


def load_run(folder: str, engine: str = "auto") -> Run:
    """The run in ``folder`` (written by ``ctrkit train``, ``run_experiment`` or ``CTRClassifier.save``)."""
    path = os.path.join(folder, "config.yaml")
    if not os.path.exists(path) or not os.path.exists(os.path.join(folder, "model.safetensors")):
        raise CTRKitError(f"{folder}: not a finished run (expected config.yaml and model.safetensors)")
    config = run_config(folder)
    processor = Processor.load(os.path.join(folder, "processor.json"))
    weights = os.path.join(folder, "model.safetensors")
    model = build_model(config["model"]["name"], processor.feature_map(vectors=False), **model_kwargs(config))
    state = load_weights(weights)
    with reading(weights, "weights file (they do not fit the model of config.yaml)"):
        model.load_state_dict(state)
    model.eval()
    return Run(folder, config, processor, model, engine)


def predict_file(run_folder: str, input_path: str, output_path: str, engine: str = "auto", **read_options: Any) -> int:
    """``load_run(run_folder, engine).predict_file(input_path, output_path)``; returns the rows written."""
    return load_run(run_folder, engine).predict_file(input_path, output_path, **read_options)
