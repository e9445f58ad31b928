"""ctrkit: click-through-rate prediction with feature-interaction models."""
from .errors import CTRKitError, DataError, SchemaError
from .api import CTRClassifier
from .features import FeatureSpec, Processor, Schema, infer_schema

__version__ = "0.1.0"
__all__ = ["CTRClassifier", "CTRKitError", "DataError", "SchemaError", "FeatureSpec", "Processor", "Schema", "infer_schema",
           "__version__"]
