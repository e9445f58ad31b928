"""A scikit-learn-style estimator for notebooks: ``CTRClassifier``, a thin face over the experiment
pipeline (``ctrkit.experiment``) that ``ctrkit train`` runs."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from .config import default_config
from .datasets import RawDataset, prepare
from .experiment import split_metrics, train_model, with_valid_split, write_run
from .features.infer import infer_schema
from .features.processor import Processor
from .features.spec import Schema
from .inference import Predictor, check_engine, roc_auc
from .io.readers import TableSource, open_source, to_arrow_table
from .io.store import EncodedArrays
from .models.base import model_options
from .runs import load_run
from .train.callbacks import Callback
from .train.options import TrainConfig

_LABEL = "__label__"


class CTRClassifier:
    """Fit a CTR model on a DataFrame (pandas, polars, Arrow) or a file.

    >>> clf = CTRClassifier(model="deepfm", epochs=5, embedding_dim=16)
    >>> clf.fit(df, label="clicked")                      # types inferred, or give categorical=[...]
    >>> clf.predict_proba(new_df)[:, 1]; clf.score(test_df); clf.save("runs/nb"); CTRClassifier.load("runs/nb")

    Args:
        model: a model name (``ctrkit models``).
        seed: seeds the split, the processor, the model's initial weights and the batch order.
        valid_fraction: the part of the rows held out for early stopping when ``fit`` gets no
            ``eval_set``.
        engine: how predictions run: ``auto``, ``torch``, ``onnx`` or ``onnx-int8``
            (``ctrkit.inference.Predictor``).
        callbacks: training callbacks of your own (``ctrkit.train.Callback``).
        **options: model options (``ctrkit.models.model_options``) and training options
            (``ctrkit.train.TrainConfig``), by name.

    ``fit`` runs the same steps as ``ctrkit train`` (``experiment.train_model``) and ``save``
    writes the same run-folder layout, which ``ctrkit evaluate / predict / report`` read.
    """

    def __init__(self, model: str = "deepfm", seed: int = 0, valid_fraction: float = 0.1, engine: str = "auto",
                 callbacks: Sequence[Callback] = (), **options: Any) -> None:
        check_engine(engine)
        self.model_name, self.seed, self.valid_fraction, self.engine = model, seed, valid_fraction, engine
        self.callbacks = list(callbacks)
        model_keys = set(model_options(model))
        train_keys = set(TrainConfig.__dataclass_fields__) - {"seed"}
        unknown = sorted(set(options) - model_keys - train_keys)
        if unknown:
            raise TypeError(f"unknown option(s) {unknown} for CTRClassifier(model={model!r})")
        self.model_options = {k: v for k, v in options.items() if k in model_keys}
        self.train_options = {k: v for k, v in options.items() if k in train_keys}
        self.processor: Optional[Processor] = None
        self.model = None
        self.history_: list = []
        self.metrics_: Dict[str, Any] = {}
        self._predictor: Optional[Predictor] = None

    def config(self, label: Optional[str] = None) -> Dict[str, Any]:
        """The experiment config this estimator trains with (as ``config.yaml`` of a run)."""
        config = default_config()
        config.update(seed=self.seed)
        config["data"].update(label=label, valid_fraction=self.valid_fraction)
        config["model"] = {"name": self.model_name, **{k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in self.model_options.items()}}
        config["train"].update({"progress": False, **self.train_options})
        return config

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Optional[Sequence] = None, label: Optional[str] = None, eval_set: Any = None,
            categorical: Sequence[str] = (), numeric: Sequence[str] = (), sequence: Union[Sequence[str], Dict[str, str]] = (),
            schema: Optional[Schema] = None, label_map: Optional[Dict[str, float]] = None) -> "CTRClassifier":
        """Fit on rows ``X`` with labels ``y`` or the column ``label``; ``eval_set`` (rows, or
        (rows, labels)) replaces the held-out part for early stopping."""
        table, label = self._with_label(X, y, label)
        if schema is None:
            if categorical or numeric or sequence:
                schema = Schema.from_columns(label, categorical, numeric, sequence, label_map=label_map)
            else:
                schema = infer_schema(table, label, label_map=label_map)
        self.schema_ = schema
        splits = {"train": TableSource(table)}
        if eval_set is not None:
            valid_table, _ = self._with_label(*eval_set, label) if isinstance(eval_set, tuple) else \
                self._with_label(eval_set, None, label)
            splits["valid"] = TableSource(valid_table)
        raw = with_valid_split(RawDataset("DataFrame", schema, splits), self.valid_fraction, self.seed)
        self.config_ = self.config(label)
        prepared = prepare(raw, seed=self.seed)
        trainer = train_model(self.config_, prepared, callbacks=self.callbacks)
        self.processor, self.model, self.trainer_ = prepared.processor, trainer.model, trainer
        self.history_ = trainer.history
        self.metrics_ = split_metrics(self.config_, trainer, prepared.splits)
        self._predictor = None
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

    @property
    def predictor(self) -> Predictor:
        """The prediction engine of the fitted model (``predictor.engine`` says which one runs)."""
        if self.model is None:
            raise RuntimeError("CTRClassifier is not fitted")
        if self._predictor is None:
            self._predictor = Predictor(self.model, self.engine, self.train_options.get("bf16", False))
        return self._predictor

    def _probability(self, encoded: EncodedArrays) -> np.ndarray:
        return self.predictor(encoded)

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(np.int64)

    def __getstate__(self) -> Dict[str, Any]:
        """Pickles without the prediction engine (an ONNX Runtime session cannot be pickled); the
        next prediction builds it again."""
        return {**self.__dict__, "_predictor": None}

    def score(self, X: Any, y: Optional[Sequence] = None) -> float:
        """ROC AUC on labelled data (the label column of the schema, or ``y``)."""
        if y is None:
            encoded = self.processor.transform(X if isinstance(X, (str, os.PathLike)) else to_arrow_table(X))
            return roc_auc(encoded.label, self._probability(encoded))
        return roc_auc(np.asarray(y, dtype=np.float64), self.predict_proba(X)[:, 1])

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str) -> None:
        """A run folder (``experiment.write_run``) that ``CTRClassifier.load`` and ``ctrkit
        evaluate / predict / report`` read."""
        write_run(folder, self.config_, self.processor, self.model, self.metrics_, self.history_)

    @classmethod
    def load(cls, folder: str, engine: str = "auto") -> "CTRClassifier":
        run = load_run(folder)
        options = {k: v for k, v in run.config["model"].items() if k != "name"}
        clf = cls(run.config["model"]["name"], seed=run.config["seed"], engine=engine, **options)
        clf.processor, clf.model, clf.schema_, clf.config_ = run.processor, run.model, run.processor.schema, run.config
        if run.bf16:
            clf.train_options["bf16"] = True
        return clf
