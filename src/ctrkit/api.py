"""A scikit-learn-style estimator for notebooks: ``CTRClassifier``, a thin face over the experiment
pipeline (``ctrkit.experiment``) that ``ctrkit train`` runs."""
from __future__ import annotations

import os
import warnings
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
from .models.base import MODELS, model_options
from .runs import load_run
from .train.callbacks import Callback
from .train.device import resolve_bf16
from .train.options import TrainConfig

_LABEL = "__label__"
_PARAMS = ("model", "seed", "valid_fraction", "engine", "callbacks")

try:   # scikit-learn is optional: with it, CTRClassifier is a full estimator (clone, GridSearchCV, Pipeline)
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import DataConversionWarning, NotFittedError
except ImportError:  # pragma: no cover - exercised where scikit-learn is not installed
    BaseEstimator = ClassifierMixin = object   # type: ignore[misc,assignment]
    DataConversionWarning = UserWarning   # type: ignore[misc,assignment]

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """The estimator is used before ``fit``."""


class CTRClassifier(ClassifierMixin, BaseEstimator):
    """Fit a CTR model on a DataFrame (pandas, polars, Arrow), a NumPy array or a file.

    >>> clf = CTRClassifier(model="deepfm", epochs=5, embedding_dim=16)
    >>> clf.fit(df, label="clicked")                      # types inferred, or give categorical=[...]
    >>> clf.predict_proba(new_df)[:, 1]; clf.score(test_df); clf.save("runs/nb"); CTRClassifier.load("runs/nb")

    A scikit-learn estimator (when scikit-learn is installed): ``get_params``/``set_params`` cover
    every option, so ``clone``, ``GridSearchCV`` and ``Pipeline`` work; ``fit(X, y)`` takes any two
    labels (``classes_``; the second is the click); ``score`` is ROC AUC.

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

    Types that ``fit`` infers put numeric fields in 32 quantile bins (``ctrkit.features.infer``;
    give ``numeric=[...]`` or a ``schema`` to keep them numbers). After ``fit``: ``schema_`` (the
    field types, inferred ones included; ``field_types_`` as a dict), ``classes_``, ``n_features_in_``, ``metrics_``, ``history_``, ``config_``. ``fit`` runs
    the same steps as ``ctrkit train`` (``experiment.train_model``) and ``save`` writes the same
    run-folder layout, report data included, which ``ctrkit evaluate / predict / report`` read.
    """

    def __init__(self, model: str = "deepfm", seed: int = 0, valid_fraction: float = 0.1, engine: str = "auto",
                 callbacks: Sequence[Callback] = (), **options: Any) -> None:
        self.model, self.seed, self.valid_fraction, self.engine = model, seed, valid_fraction, engine
        self.callbacks = callbacks
        self._options = dict(options)

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Every parameter: the named ones and the model and training options."""
        return {**{name: getattr(self, name) for name in _PARAMS}, **self._options}

    def set_params(self, **params: Any) -> "CTRClassifier":
        """Set named parameters and options; like the constructor, it checks nothing: ``fit``
        refuses an option the model and trainer do not take."""
        options = {**self._options, **{k: v for k, v in params.items() if k not in _PARAMS}}
        for name in _PARAMS:
            if name in params:
                setattr(self, name, params[name])
        self._options = options
        return self

    @property
    def model_options(self) -> Dict[str, Any]:
        keys = set(model_options(self.model))
        return {k: v for k, v in self._options.items() if k in keys}

    @property
    def train_options(self) -> Dict[str, Any]:
        keys = set(model_options(self.model))
        return {k: v for k, v in self._options.items() if k not in keys}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False      # a click model: two classes
        tags.input_tags.allow_nan = True               # NaN is a missing value
        tags.input_tags.string = tags.input_tags.categorical = True
        tags.non_deterministic = False
        return tags

    def config(self, label: Optional[str] = None) -> Dict[str, Any]:
        """The experiment config this estimator trains with (as ``config.yaml`` of a run)."""
        check_engine(self.engine)
        config = default_config()
        config.update(seed=self.seed)
        config["data"].update(label=label, valid_fraction=self.valid_fraction)
        config["model"] = {"name": self.model, **{k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in self.model_options.items()}}
        config["train"].update({"progress": False, **self.train_options})
        return config

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Optional[Sequence] = None, label: Optional[str] = None, eval_set: Any = None,
            categorical: Sequence[str] = (), numeric: Sequence[str] = (), sequence: Union[Sequence[str], Dict[str, str]] = (),
            schema: Optional[Schema] = None, label_map: Optional[Dict[str, float]] = None) -> "CTRClassifier":
        """Fit on rows ``X`` with labels ``y`` (any two values) or the column ``label``;
        ``eval_set`` (rows, or (rows, labels)) replaces the held-out part for early stopping."""
        _check_options(self.model, self._options)
        table, label = self._with_label(X, y, label, fitting=True)
        if schema is None:
            if categorical or numeric or sequence:
                schema = Schema.from_columns(label, categorical, numeric, sequence, label_map=label_map)
            else:
                schema = infer_schema(table, label, label_map=label_map)
        self.schema_ = schema
        self.field_types_ = {f.name: f.type for f in schema.fields}
        self.n_features_in_ = table.num_columns - 1
        names = [n for n in table.column_names if n != label]
        if _has_names(X):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        splits = {"train": TableSource(table)}
        if eval_set is not None:
            valid_table, _ = self._with_label(*eval_set, label) if isinstance(eval_set, tuple) else \
                self._with_label(eval_set, None, label)
            splits["valid"] = TableSource(valid_table)
        raw = with_valid_split(RawDataset("DataFrame", schema, splits), self.valid_fraction, self.seed)
        self.config_ = self.config(label)
        prepared = prepare(raw, seed=self.seed)
        trainer = train_model(self.config_, prepared, callbacks=list(self.callbacks))
        self.processor_, self.model_, self.trainer_ = prepared.processor, trainer.model, trainer
        self.history_ = trainer.history
        self.metrics_ = split_metrics(self.config_, trainer, prepared.splits)
        self._report_split = prepared.splits.get("valid")
        self._predictor = self._new_predictor()
        return self

    def _with_label(self, X: Any, y: Optional[Sequence], label: Optional[str], fitting: bool = False):
        table = self._table(X)
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                warnings.warn("A column-vector y was passed when a 1d array was expected: pass y.ravel()",
                              DataConversionWarning)
                y = y.ravel()
            if y.ndim != 1 or len(y) != table.num_rows:
                raise ValueError(f"y: expected {table.num_rows} labels in one dimension, got shape {y.shape}")
            if fitting:
                self.classes_ = _binary_classes(y)
            targets = (y == self.classes_[1]).astype(np.int8)
            name = label or _LABEL
            return table.append_column(name, pa.array(targets)), name
        if label is None:
            raise ValueError("CTRClassifier requires y to be passed, but the target y is None: give y, or label= "
                             "naming the label column")
        if fitting:
            self.classes_ = np.array([0, 1])
        return table, label

    def _table(self, X: Any) -> pa.Table:
        """Rows as an Arrow table; a 2-D array's columns are named x0, x1, ..."""
        if isinstance(X, (str, os.PathLike)):
            return open_source(X).read_all()
        if type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("sparse input is not supported (a sparse matrix was passed, but dense data is required): "
                            "pass X.toarray() or a DataFrame")
        if not _has_names(X):
            array = np.asarray(X)
            if array.dtype.kind == "c":
                raise ValueError("Complex data not supported")
            if array.ndim != 2:
                raise ValueError(f"expected a 2-D array of rows × features, got {array.ndim}-D. Reshape your data: "
                                 "X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample")
            if array.shape[1] == 0:
                raise ValueError(f"0 feature(s) (shape={array.shape}) while a minimum of 1 is required.")
            if array.shape[0] == 0:
                raise ValueError(f"0 sample(s) (shape={array.shape}) while a minimum of 1 is required.")
            expected = getattr(self, "n_features_in_", None)
            if expected is not None and getattr(self, "processor_", None) is not None and array.shape[1] != expected:
                raise ValueError(f"X has {array.shape[1]} features, but CTRClassifier is expecting {expected} "
                                 "features as input")
            if array.dtype.kind in "fiub":
                array = array.astype(np.float64)
            return pa.table({f"x{i}": pa.array(array[:, i]) for i in range(array.shape[1])})
        table = to_arrow_table(X)
        if table.num_rows == 0:
            raise ValueError("expected at least one row, got 0")
        return table

    # ------------------------------------------------------------------ inference
    def _fitted(self) -> Processor:
        if getattr(self, "processor_", None) is None:
            raise NotFittedError("this CTRClassifier is not fitted yet: call fit() first")
        return self.processor_

    def _encode(self, X: Any) -> EncodedArrays:
        processor = self._fitted()
        data = X if isinstance(X, (str, os.PathLike)) else self._table(X)
        return processor.transform(data, require_label=False)

    def predict_proba(self, X: Any) -> np.ndarray:
        """[N, 2]: probabilities of ``classes_[0]`` (no click) and ``classes_[1]`` (click)."""
        p = self._probability(self._encode(X))
        return np.stack([1 - p, p], axis=1)

    @property
    def predictor(self) -> Predictor:
        """The prediction engine of the fitted model (``predictor.engine`` says which one runs)."""
        self._fitted()
        return self._predictor

    def _new_predictor(self) -> Predictor:
        return Predictor(self.model_, self.engine,
                         resolve_bf16(self.train_options.get("bf16"), self.model_, self.model_.device)[0])

    def _probability(self, encoded: EncodedArrays) -> np.ndarray:
        return self.predictor(encoded)

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        """``classes_[1]`` where the click probability is at least ``threshold``, else ``classes_[0]``."""
        clicked = self.predict_proba(X)[:, 1] >= threshold
        return self.classes_[clicked.astype(np.int64)]

    def __getstate__(self) -> Dict[str, Any]:
        """Pickles without the prediction engine (an ONNX Runtime session cannot be pickled); the
        unpickled estimator makes a new one."""
        return {**self.__dict__, "_predictor": None}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        state.pop("_sklearn_version", None)
        self.__dict__.update(state)
        if getattr(self, "model_", None) is not None:
            self._predictor = self._new_predictor()

    def score(self, X: Any, y: Optional[Sequence] = None) -> float:
        """ROC AUC on labelled data (the label column of the schema, or ``y``)."""
        if y is None:
            encoded = self._fitted().transform(X if isinstance(X, (str, os.PathLike)) else to_arrow_table(X))
            return roc_auc(encoded.label, self._probability(encoded))
        y = np.asarray(y)
        return roc_auc((y == self.classes_[1]).astype(np.float64), self.predict_proba(X)[:, 1])

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str) -> None:
        """A run folder (``experiment.write_run``) that ``CTRClassifier.load`` and ``ctrkit
        evaluate / predict / report`` read, with the held-out split the report plots."""
        self._fitted()
        write_run(folder, self.config_, self.processor_, self.model_, self.metrics_, self.history_)
        split = getattr(self, "_report_split", None)
        if split is not None and split.label is not None:
            split.save(os.path.join(folder, "data", "valid"))

    @classmethod
    def load(cls, folder: str, engine: str = "auto") -> "CTRClassifier":
        run = load_run(folder)
        options = {k: v for k, v in run.config["model"].items() if k != "name"}
        if run.config.get("train", {}).get("bf16") is not None:
            options["bf16"] = run.config["train"]["bf16"]
        clf = cls(run.config["model"]["name"], seed=run.config["seed"], engine=engine, **options)
        clf.processor_, clf.model_, clf.schema_, clf.config_ = run.processor, run.model, run.processor.schema, run.config
        clf.field_types_ = {f.name: f.type for f in clf.schema_.fields}
        clf.classes_ = np.array([0, 1])
        clf.n_features_in_ = len(clf.schema_.fields)
        clf._predictor = clf._new_predictor()
        return clf


def _check_options(model: str, options: Dict[str, Any]) -> None:
    if model not in MODELS:
        raise TypeError(f"unknown model {model!r}; models: {', '.join(MODELS)}")
    model_keys = set(model_options(model))
    train_keys = set(TrainConfig.__dataclass_fields__) - {"seed"}
    unknown = sorted(set(options) - model_keys - train_keys)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for CTRClassifier(model={model!r})")


def _binary_classes(y: np.ndarray) -> np.ndarray:
    """The two sorted labels of ``y``; an error for a continuous target or any other count."""
    if y.dtype.kind == "f" and not np.all(np.isnan(y) | (y == np.round(y))):
        raise ValueError("Unknown label type: continuous. CTRClassifier needs two classes (clicked or not)")
    classes = np.unique(y)
    if len(classes) == 1:
        raise ValueError(f"y has one class ({classes[0]!r}): a click model needs two")
    if len(classes) > 2:
        raise ValueError(f"Only binary classification is supported: y has {len(classes)} classes "
                         f"({classes[:5].tolist()})")
    return classes


def _has_names(X: Any) -> bool:
    """Whether ``X`` carries column names (a DataFrame or an Arrow table)."""
    return type(X).__module__.split(".")[0] in ("pandas", "polars", "pyarrow")
