"""Scoring a trained model: PyTorch prediction (``scoring``) and metrics (``metrics``), ONNX export and ONNX
Runtime sessions (``onnx``), the engine choice (``engines``) shared by training, the API, the CLI
and the service, and what attention models attend to, row by row (``explain``).

``ENGINES`` is plain Python; the rest needs torch and is imported on first use, so that the
command line lists the engines without loading torch.
"""
from importlib import import_module
from typing import Any

ENGINES = ("auto", "torch", "onnx", "onnx-int8")
_LAZY = {"Predictor": "engines", "check_engine": "engines", "default_engine": "engines",
         "binary_metrics": "metrics", "expected_calibration_error": "metrics", "group_auc": "metrics",
         "log_loss": "metrics", "regression_metrics": "metrics", "roc_auc": "metrics",
         "OnnxPredictor": "onnx", "export_onnx": "onnx", "onnx_available": "onnx", "output_name": "onnx",
         "cpu_inference_rows": "scoring", "evaluate": "scoring", "predict": "scoring",
         "pair_weights": "explain", "row_top_pairs": "explain", "top_pairs": "explain"}
__all__ = ["ENGINES", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
