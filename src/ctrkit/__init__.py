"""ctrkit: click-through-rate prediction with feature-interaction models.

The names below are imported on first use: ``import ctrkit`` and the data preparation commands
do not load torch.
"""
from importlib import import_module
from typing import Any

from .errors import CTRKitError, DataError, SchemaError

__version__ = "0.1.0"
_LAZY = {"CTRClassifier": "ctrkit.api", "FeatureSpec": "ctrkit.features", "Processor": "ctrkit.features",
         "Schema": "ctrkit.features", "infer_schema": "ctrkit.features"}
__all__ = ["CTRClassifier", "CTRKitError", "DataError", "SchemaError", "FeatureSpec", "Processor", "Schema", "infer_schema",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
