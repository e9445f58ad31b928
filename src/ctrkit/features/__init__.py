"""Feature schema, schema inference and the processor (raw rows → encoded arrays)."""
from .feature_map import FeatureMap, FieldSlot
from .infer import infer_schema
from .processor import Processor
from .spec import FeatureSpec, Schema

__all__ = ["FeatureMap", "FieldSlot", "FeatureSpec", "Schema", "Processor", "infer_schema"]
