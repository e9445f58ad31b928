"""Your own files as a dataset: train/valid/test files and a schema (given, from field lists, or
inferred from the train file)."""
from __future__ import annotations

from typing import Any, Dict

import yaml

from ..errors import CTRKitError
from ..features.infer import NUMERIC_BUCKETS, infer_schema
from ..features.spec import Schema
from ..io.readers import open_source
from .base import SPLITS, RawDataset


def files_dataset(data: Dict[str, Any]) -> RawDataset:
    """The splits named by ``data`` (a config's ``data`` section: ``train`` and optionally ``valid``
    and ``test`` paths, ``read`` options) with the schema of ``build_schema``."""
    read = dict(data.get("read") or {})
    splits = {name: open_source(data[name], **read) for name in SPLITS if data.get(name)}
    return RawDataset("custom", build_schema(data, splits["train"]), splits,
                      {"files": {name: data[name] for name in SPLITS if data.get(name)},
                       "read": {k: v for k, v in read.items() if k != "on_bad_rows"}})


def build_schema(data: Dict[str, Any], train: Any) -> Schema:
    """The schema of user files from a config's ``data`` section: a schema (mapping or YAML path),
    the field lists, or, with only a label, one inferred from the ``train`` source."""
    if data.get("schema") is not None:
        spec = data["schema"]
        if isinstance(spec, str):
            with open(spec) as fh:
                spec = yaml.safe_load(fh)
        return Schema.from_dict(spec)
    if not data.get("label"):
        raise CTRKitError("data.label is required for your own files (or give data.schema)")
    categorical, numeric, sequence = (data.get(k) or [] for k in ("categorical", "numeric", "sequence"))
    if categorical or numeric or sequence:
        sequences = dict(s.split(":", 1) if ":" in s else (s, "|") for s in sequence)
        return Schema.from_columns(data["label"], categorical, numeric, sequences, label_map=data.get("label_map"))
    schema = infer_schema(train, data["label"], label_map=data.get("label_map"))
    binned = [f.name for f in schema.fields if f.type == "numeric" and f.buckets]
    print("schema inferred from the data (`ctrkit schema` writes it as YAML to edit and pass back)"
          + (f"; numeric fields cut into {NUMERIC_BUCKETS} quantile bins, what measured best on Adult and "
             f"synthetic data: {', '.join(binned)}" if binned else "") + ":")
    return schema
