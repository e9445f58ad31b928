"""A finished run folder loaded back: evaluation, prediction in memory and into files.

A run folder holds ``config.yaml`` (resolved), ``processor.json``, ``data/`` (encoded splits),
``checkpoint/``, ``model.safetensors`` (the best weights), ``history.csv`` and ``metrics.json``.
Everything a loaded run needs is in the folder: pretrained vectors, for one, are read from the
weights, not from the file they first came from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

from .config import model_kwargs
from .errors import CTRKitError
from .features.processor import Processor
from .inference import Predictor, evaluate, output_name
from .io.readers import open_source
from .io.store import EncodedArrays, read_split
from .models import CTRModel, build_model
from .train.checkpoint import load_weights


OUTPUT_FORMATS = (".csv", ".parquet", ".pq")


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
        """Whether the run trained with bfloat16 autocast; its predictions use it too."""
        return bool(self.config.get("train", {}).get("bf16", False))

    def evaluate(self, data: Any, label_map: Optional[Dict[str, float]] = None, **read_options: Any
                 ) -> Dict[str, float]:
        """Metrics on labelled raw rows; ``label_map`` replaces the schema's (labels written differently)."""
        processor = self.processor
        if label_map is not None:
            processor = Processor.load_dict({**processor.to_dict(), "schema": {**processor.schema.to_dict(),
                                                                                 "label_map": label_map}})
        return evaluate(self.model, processor.transform(data, **read_options), bf16=self.bf16)

    def predict(self, data: EncodedArrays) -> np.ndarray:
        """Probabilities (or regression predictions) for encoded rows, float64 [N], by ``engine``."""
        return self.predictor(data)

    def predict_file(self, input_path: str, output_path: str, **read_options: Any) -> int:
        """Write ``output_path`` (CSV, or Parquet by extension): the input's columns plus
        ``probability`` (``prediction`` for regression), chunk by chunk, so memory stays bounded by
        the reader's chunk size. Returns the number of rows."""
        if not output_path.endswith(OUTPUT_FORMATS):
            raise CTRKitError(f"{output_path}: the output is written as CSV or Parquet; name it "
                              f"{', '.join(OUTPUT_FORMATS)}")
        source = open_source(input_path, **read_options)
        column = output_name(self.model)
        parquet = output_path.endswith((".parquet", ".pq"))
        os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
        writer, rows = None, 0
        try:
            for chunk, block in self.processor.iter_encoded(source, ignore_label=True):
                p = self.predict(EncodedArrays(block["cat"], block["num"], block["seq"], None))
                table = pa.Table.from_batches([chunk.batch]).append_column(column, pa.array(p.astype(np.float64)))
                if writer is None:
                    writer = (pq.ParquetWriter(output_path, table.schema) if parquet
                              else pa_csv.CSVWriter(output_path, table.schema))
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows

    def split(self, name: str) -> Optional[EncodedArrays]:
        """An encoded split of the run's data (``train``, ``valid``, ``test``), or None."""
        folder = os.path.join(self.folder, "data", name)
        return read_split(folder) if os.path.isdir(folder) else None


def load_run(folder: str, engine: str = "auto") -> Run:
    """The run in ``folder`` (written by ``ctrkit train``, ``run_experiment`` or ``CTRClassifier.save``)."""
    path = os.path.join(folder, "config.yaml")
    if not os.path.exists(path) or not os.path.exists(os.path.join(folder, "model.safetensors")):
        raise CTRKitError(f"{folder}: not a finished run (expected config.yaml and model.safetensors)")
    with open(path) as fh:
        config = yaml.safe_load(fh)
    processor = Processor.load(os.path.join(folder, "processor.json"))
    model = build_model(config["model"]["name"], processor.feature_map(vectors=False), **model_kwargs(config))
    model.load_state_dict(load_weights(os.path.join(folder, "model.safetensors")))
    model.eval()
    return Run(folder, config, processor, model, engine)


def predict_file(run_folder: str, input_path: str, output_path: str, engine: str = "auto", **read_options: Any) -> int:
    """``load_run(run_folder, engine).predict_file(input_path, output_path)``; returns the rows written."""
    return load_run(run_folder, engine).predict_file(input_path, output_path, **read_options)
