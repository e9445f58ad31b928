"""Engines that score a model's encoded rows: eager PyTorch (with the models' frozen prediction
scorers), ONNX Runtime, and ONNX Runtime with int8 weights; ``auto`` picks one per model."""
from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy as np
from torch import nn

from ..io.store import EncodedArrays
from ..models.base import CTRModel
from . import ENGINES
from .onnx import OnnxPredictor, onnx_available
from .scoring import predict


class Predictor:
    """A model's prediction function for one engine, built on the first call: ``predictor(encoded)``.

    Building (an ONNX export and session, or a frozen torch scorer) happens once, under a lock, so
    one ``Predictor`` can be called from many threads at once; every engine's call is then
    read-only. ONNX Runtime and the torch scorers of LR, FM (``nn.FrozenFM``), FNN and DeepFM
    (``nn.FoldedMLP``) keep the weights the model had when they were built: make a new
    ``Predictor`` after changing them.

    Args:
        model: the model to score, in eval mode for concurrent calls.
        engine: ``auto`` (``default_engine``), ``torch``, ``onnx`` or ``onnx-int8`` (int8 weights in
            the matrix products, ``inference.onnx``).
        bf16: the run trained with bfloat16 autocast: the torch engine predicts with it too.

    Shapes:
        encoded rows [N] → float64 [N]: probabilities (binary) or predictions (regression).
    """

    def __init__(self, model: CTRModel, engine: str = "auto", bf16: bool = False) -> None:
        check_engine(engine)
        self.model, self.requested, self.bf16 = model, engine, bf16
        self._fn: Optional[Callable[[EncodedArrays], np.ndarray]] = None
        self._engine = ""
        self._scorer: Optional[nn.Module] = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> str:
        """The engine in use: ``torch``, ``onnx`` or ``onnx-int8`` (built on first use)."""
        self._build()
        return self._engine

    @property
    def scorer(self) -> Optional[nn.Module]:
        """The torch module that computes the logits (the model or its frozen prediction scorer);
        None for the ONNX engines."""
        self._build()
        return self._scorer

    def __call__(self, data: EncodedArrays) -> np.ndarray:
        return (self._fn or self._build())(data)

    def _build(self) -> Callable[[EncodedArrays], np.ndarray]:
        with self._lock:
            if self._fn is None:
                self._engine, self._scorer, self._fn = _make(self.model, self.requested, self.bf16)
            return self._fn


def _make(model: CTRModel, engine: str, bf16: bool):
    """(engine in use, torch scorer or None, prediction function)."""
    if engine == "onnx-int8":
        return engine, None, OnnxPredictor.from_model(model, int8=True).predict
    scorer = model if engine == "onnx" else model.scorer()
    chosen = default_engine(model, bf16, scorer) if engine == "auto" else engine
    if chosen == "onnx":
        return chosen, None, OnnxPredictor.from_model(model).predict
    return chosen, scorer, lambda data: predict(model, data, bf16=bf16, scorer=scorer)


def check_engine(engine: str) -> None:
    """Raise ValueError unless ``engine`` is one of ``ENGINES``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")


def default_engine(model: CTRModel, bf16: bool = False, scorer: Optional[nn.Module] = None) -> str:
    """The engine ``auto`` picks for ``model``: eager torch for bfloat16 runs, for models on a GPU
    and for models that predict through a scorer of their own (LR, FM: ``nn.FrozenFM``; FNN, DeepFM:
    ``nn.FoldedMLP``), else ONNX Runtime when it is installed (faster than eager torch for the
    other models: ``benchmarks/RESULTS.md``, docs/performance.md).

    Args:
        model: the model to score.
        bf16: the run trained with bfloat16 autocast.
        scorer: ``model.scorer()`` when the caller has it.

    Returns:
        ``"torch"`` or ``"onnx"``.
    """
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    own_scorer = (model.scorer() if scorer is None else scorer) is not model
    return "onnx" if on_cpu and not bf16 and not own_scorer and onnx_available() else "torch"
