"""ctrkit: click-through-rate prediction with feature-interaction models."""
from .errors import CTRKitError, DataError, SchemaError
from .features import FeatureSpec, Processor, Schema, infer_schema

__version__ = "0.1.0"
__all__ = ["CTRKitError", "DataError", "SchemaError", "FeatureSpec", "Processor", "Schema", "infer_schema",
           "__version__"]
