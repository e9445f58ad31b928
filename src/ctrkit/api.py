"""A scikit-learn-style estimator for notebooks: ``CTRClassifier``."""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import torch

from .config import default_config, dump_config
from .data.datasets.base import split_table
from .data.readers import open_source, to_arrow_table
from .data.store import EncodedArrays
from .experiment import load_run
from .export import check_engine, predictor
from .features.infer import infer_schema
from .features.processor import Processor
from .features.spec import Schema
from .models import build_model
from .models.base import model_options
from .train.checkpoint import save_weights
from .train.metrics import roc_auc
from .train.trainer import TrainConfig, Trainer

_LABEL = "__label__"


class CTRClassifier:
    """Fit a CTR model on a DataFrame (pandas, polars, Arrow) or a file.

    >>> clf = CTRClassifier(model="deepfm", epochs=5, embedding_dim=16)
    >>> clf.fit(df, label="clicked")                      # types inferred, or give categorical=[...]
    >>> clf.predict_proba(new_df)[:, 1]; clf.score(test_df); clf.save("runs/nb"); CTRClassifier.load("runs/nb")

    Keyword options go to the model when the model has them and to ``TrainConfig`` otherwise.
    ``engine`` picks how predictions run: ``auto`` (PyTorch through frozen tables for LR, FM, FNN and
    DeepFM and for bfloat16 runs, else ONNX Runtime when installed, exported once after fitting),
    ``onnx``, ``onnx-int8`` (int8 weights) or ``torch`` (see ``ctrkit.export.predictor``).
    """

    def __init__(self, model: str = "deepfm", seed: int = 0, valid_fraction: float = 0.1, engine: str = "auto",
                 **options: Any) -> None:
        check_engine(engine)
        self.model_name, self.seed, self.valid_fraction, self.engine = model, seed, valid_fraction, engine
        model_keys = set(model_options(model))
        train_keys = set(TrainConfig.__dataclass_fields__) - {"seed"}
        unknown = sorted(set(options) - model_keys - train_keys)
        if unknown:
            raise TypeError(f"unknown option(s) {unknown} for CTRClassifier(model={model!r})")
        self.model_options = {k: v for k, v in options.items() if k in model_keys}
        self.train_options = {k: v for k, v in options.items() if k in train_keys}
        self.processor: Optional[Processor] = None
        self.model = None
        self.history_ = []
        self._predict: Optional[Callable[[EncodedArrays], np.ndarray]] = None

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Optional[Sequence] = None, label: Optional[str] = None, eval_set: Any = None,
            categorical: Sequence[str] = (), numeric: Sequence[str] = (), sequence: Union[Sequence[str], Dict[str, str]] = (),
            schema: Optional[Schema] = None, label_map: Optional[Dict[str, float]] = None) -> "CTRClassifier":
        table, label = self._with_label(X, y, label)
        if schema is None:
            if categorical or numeric or sequence:
                schema = Schema.from_columns(label, categorical, numeric, sequence, label_map=label_map)
            else:
                schema = infer_schema(table, label, label_map=label_map)
        self.schema_ = schema
        if eval_set is None:
            parts = split_table(table, {"train": 1 - self.valid_fraction, "valid": self.valid_fraction}, self.seed,
                                name="<DataFrame>", stratify=label if schema.task == "binary" else None)
            train_src, valid_src = parts["train"], parts["valid"]
        else:
            valid_table, _ = self._with_label(*eval_set, label) if isinstance(eval_set, tuple) else \
                self._with_label(eval_set, None, label)
            train_src, valid_src = table, valid_table
        self.processor = Processor(schema, seed=self.seed)
        train, valid = self.processor.fit_transform(train_src), self.processor.transform(valid_src)
        torch.manual_seed(self.seed)
        self.model = build_model(self.model_name, self.processor.feature_map(), **self.model_options)
        self.trainer_ = Trainer(self.model, TrainConfig(seed=self.seed, progress=False, **self.train_options))
        self.history_ = self.trainer_.fit(train, valid)
        self._predict = None
        return self

    @staticmethod
    def _with_label(X: Any, y: Optional[Sequence], label: Optional[str]):
        table = to_arrow_table(X) if not isinstance(X, (str, os.PathLike)) else open_source(X).read_all()
        if y is not None:
            name = label or _LABEL
            table = table.append_column(name, pa.array(np.asarray(y)))
            return table, name
        if label is None:
            raise ValueError("give y, or label= naming the label column")
        return table, label

    # ------------------------------------------------------------------ inference
    def _encode(self, X: Any) -> EncodedArrays:
        if self.processor is None:
            raise RuntimeError("CTRClassifier is not fitted")
        data = X if isinstance(X, (str, os.PathLike)) else to_arrow_table(X)
        return self.processor.transform(data, require_label=False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """[N, 2]: probabilities of no click and click."""
        p = self._probability(self._encode(X))
        return np.stack([1 - p, p], axis=1)

    def _probability(self, encoded: EncodedArrays) -> np.ndarray:
        if self._predict is None:
            self._predict = predictor(self.model, self.engine, self.train_options.get("bf16", False))
        return self._predict(encoded)

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(np.int64)

    def __getstate__(self) -> Dict[str, Any]:
        """Pickles without the ONNX Runtime session (it cannot be pickled); the next prediction
        exports the model again."""
        return {**self.__dict__, "_predict": None}

    def score(self, X: Any, y: Optional[Sequence] = None) -> float:
        """ROC AUC on labelled data (the label column of the schema, or ``y``)."""
        if y is None:
            encoded = self.processor.transform(X if isinstance(X, (str, os.PathLike)) else to_arrow_table(X))
            return roc_auc(encoded.label, self._probability(encoded))
        return roc_auc(np.asarray(y, dtype=np.float64), self.predict_proba(X)[:, 1])

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str) -> None:
        """A run folder that ``CTRClassifier.load`` and ``ctrkit evaluate/predict`` read."""
        os.makedirs(folder, exist_ok=True)
        config = default_config()
        config.update(seed=self.seed, out=folder)
        config["data"]["label"] = self.schema_.label
        config["model"] = {"name": self.model_name, **{k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in self.model_options.items()}}
        config["train"].update(self.train_options)
        with open(os.path.join(folder, "config.yaml"), "w") as fh:
            fh.write(dump_config(config))
        self.processor.save(os.path.join(folder, "processor.json"))
        save_weights(os.path.join(folder, "model.safetensors"), self.model.state_dict())
        with open(os.path.join(folder, "metrics.json"), "w") as fh:
            json.dump({"model": self.model_name, "history": self.history_}, fh, indent=1)

    @classmethod
    def load(cls, folder: str, engine: str = "auto") -> "CTRClassifier":
        run = load_run(folder)
        options = {k: v for k, v in run.config["model"].items() if k != "name"}
        clf = cls(run.config["model"]["name"], seed=run.config["seed"], engine=engine, **options)
        clf.processor, clf.model, clf.schema_ = run.processor, run.model, run.processor.schema
        if run.bf16:
            clf.train_options["bf16"] = True
        return clf
