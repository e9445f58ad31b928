"""Feature specs and the schema: which column is the label, and how each field is encoded.

A schema is plain data (dicts in YAML/JSON); ``Schema.from_dict`` validates it and names the
offending field and option on any mistake.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..errors import SchemaError

FIELD_TYPES = ("categorical", "numeric", "sequence")
SCALERS = ("standard", "minmax", "none")
BUCKETINGS = ("quantile", "width")
POOLINGS = ("mean", "sum", "none")
TASKS = ("binary", "regression")


@dataclass
class FeatureSpec:
    """One input field.

    Categorical and sequence fields get a vocabulary (tokens seen at least ``min_count`` times in
    the training rows) plus an out-of-vocabulary id and a missing id. Numeric fields are filled,
    optionally log-transformed, then scaled, or cut into at most ``buckets`` bins and treated as
    categorical from then on: ``bucketing='quantile'`` bins hold about equal numbers of training
    rows, with a value that fills a bin's share (say the zero of a count) in a bin of its own
    (``features.numeric_stats.quantile_edges``); ``'width'`` bins are equally wide.
    """

    name: str
    type: str
    column: Optional[str] = None
    # categorical and sequence fields
    min_count: int = 1
    missing: List[str] = field(default_factory=list)
    embedding_dim: Optional[int] = None
    share_embedding: Optional[str] = None
    pretrained: Optional[str] = None
    pretrained_keys: Optional[str] = None
    freeze: bool = False
    # sequence fields
    separator: str = "|"
    max_len: Optional[int] = None
    pooling: str = "mean"
    # numeric fields
    fill: float = 0.0
    log: bool = False
    scaler: str = "standard"
    buckets: Optional[int] = None
    bucketing: str = "quantile"

    def __post_init__(self) -> None:
        if self.column is None:
            self.column = self.name
        if isinstance(self.missing, str):
            self.missing = [self.missing]
        self.missing = [str(m) for m in self.missing]
        self._validate()

    # -- derived ---------------------------------------------------------------------------
    @property
    def encoded_type(self) -> str:
        """The type after encoding: a bucketed numeric field becomes categorical."""
        if self.type == "numeric" and self.buckets:
            return "categorical"
        return self.type

    @property
    def has_vocabulary(self) -> bool:
        return self.type in ("categorical", "sequence")

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Only the options that differ from their defaults, plus name and type."""
        out: Dict[str, Any] = {"name": self.name, "type": self.type}
        for f in dataclasses.fields(self):
            if f.name in out:
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if f.name == "column" and value == self.name:
                continue
            if value != default:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSpec":
        if not isinstance(data, Mapping):
            raise SchemaError(f"a field spec must be a mapping, got {type(data).__name__}: {data!r}")
        name = data.get("name")
        if not name or not isinstance(name, str):
            raise SchemaError(f"field spec {dict(data)!r} needs a 'name' (a string)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchemaError(
                f"field {name!r}: unknown option(s) {', '.join(map(repr, unknown))}; "
                f"expected one of {', '.join(sorted(known - {'name'}))}"
            )
        if "type" not in data:
            raise SchemaError(f"field {name!r}: missing 'type' (one of {', '.join(FIELD_TYPES)})")
        return cls(**dict(data))

    # -- validation ------------------------------------------------------------------------
    def _validate(self) -> None:
        def bad(msg: str) -> SchemaError:
            return SchemaError(f"field {self.name!r}: {msg}")

        if self.type not in FIELD_TYPES:
            raise bad(f"type must be one of {', '.join(FIELD_TYPES)}, got {self.type!r}")
        _check_type(self, "min_count", int, bad)
        if self.min_count < 1:
            raise bad(f"min_count must be >= 1, got {self.min_count}")
        if self.embedding_dim is not None:
            _check_type(self, "embedding_dim", int, bad)
            if self.embedding_dim < 1:
                raise bad(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if self.max_len is not None:
            _check_type(self, "max_len", int, bad)
            if self.max_len < 1:
                raise bad(f"max_len must be >= 1, got {self.max_len}")
        if not isinstance(self.fill, (int, float)) or isinstance(self.fill, bool):
            raise bad(f"fill must be a number, got {self.fill!r}")
        if self.scaler not in SCALERS:
            raise bad(f"scaler must be one of {', '.join(SCALERS)}, got {self.scaler!r}")
        if self.bucketing not in BUCKETINGS:
            raise bad(f"bucketing must be one of {', '.join(BUCKETINGS)}, got {self.bucketing!r}")
        if self.pooling not in POOLINGS:
            raise bad(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.buckets is not None:
            _check_type(self, "buckets", int, bad)
            if self.type != "numeric":
                raise bad("buckets applies to numeric fields only")
            if self.buckets < 2:
                raise bad(f"buckets must be >= 2, got {self.buckets}")
        if self.type == "sequence" and not self.separator:
            raise bad("a sequence field needs a non-empty separator")
        if not self.has_vocabulary:
            for opt in ("share_embedding", "pretrained"):
                if getattr(self, opt):
                    raise bad(f"{opt} applies to categorical and sequence fields only")
        if self.pretrained_keys and not self.pretrained:
            raise bad("pretrained_keys given without pretrained")
        if self.share_embedding and self.pretrained:
            raise bad("a field that shares another field's table cannot load its own pretrained vectors")


def _check_type(spec: FeatureSpec, option: str, kind: type, bad) -> None:
    value = getattr(spec, option)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise bad(f"{option} must be {kind.__name__}, got {value!r}")


# How tables spell a missing number (pandas' and R's NA strings, SQL's NULL, spreadsheets' dashes).
MISSING_VALUES = ("NA", "N/A", "n/a", "na", "NaN", "nan", "-nan", "NULL", "null", "Null", "None", "none", "-", "?",
                  "#N/A", "nil")


@dataclass
class Schema:
    """The label and the fields of a table.

    ``label_map`` maps raw label strings to targets (``{">50K": 1, "<=50K": 0}``); without it a
    binary label must already read as 0/1. ``missing_values``: the spellings of a missing value in
    numeric fields (compared with surrounding blanks stripped), ``MISSING_VALUES`` by default.
    """

    fields: List[FeatureSpec]
    label: Optional[str] = None
    label_map: Optional[Dict[str, float]] = None
    task: str = "binary"
    missing_values: List[str] = field(default_factory=lambda: list(MISSING_VALUES))

    def __post_init__(self) -> None:
        self.fields = [f if isinstance(f, FeatureSpec) else FeatureSpec.from_dict(f) for f in self.fields]
        if self.task not in TASKS:
            raise SchemaError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.fields:
            raise SchemaError("a schema needs at least one field")
        seen: Dict[str, FeatureSpec] = {}
        for f in self.fields:
            if f.name in seen:
                raise SchemaError(f"duplicate field name {f.name!r}: each field needs its own name")
            seen[f.name] = f
        if self.label is not None and self.label in {f.column for f in self.fields}:
            raise SchemaError(f"the label column {self.label!r} is also used as a feature")
        for f in self.fields:
            if not f.share_embedding:
                continue
            owner = seen.get(f.share_embedding)
            if owner is None:
                raise SchemaError(f"field {f.name!r}: share_embedding names unknown field {f.share_embedding!r}")
            if not owner.has_vocabulary or owner.share_embedding:
                raise SchemaError(
                    f"field {f.name!r}: share_embedding must name a categorical or sequence field "
                    f"that owns its table, got {owner.name!r}"
                )
        if self.label_map is not None:
            self.label_map = {str(k): float(v) for k, v in dict(self.label_map).items()}
        if isinstance(self.missing_values, str) or not isinstance(self.missing_values, Sequence):
            raise SchemaError(f"missing_values must be a list of strings, got {self.missing_values!r}")
        self.missing_values = [str(m) for m in self.missing_values]

    # -- lookups ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> List[str]:
        return [f.name for f in self.fields]

    def fields_of(self, encoded_type: str) -> List[FeatureSpec]:
        """Fields whose encoded type is ``encoded_type`` (categorical, numeric or sequence), in order."""
        return [f for f in self.fields if f.encoded_type == encoded_type]

    @property
    def columns(self) -> List[str]:
        """Source columns this schema reads (features and, if set, the label)."""
        cols = [f.column for f in self.fields]
        if self.label is not None:
            cols.append(self.label)
        return list(dict.fromkeys(cols))

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"label": self.label, "task": self.task}
        if self.label_map is not None:
            out["label_map"] = dict(self.label_map)
        if self.missing_values != list(MISSING_VALUES):
            out["missing_values"] = list(self.missing_values)
        out["fields"] = [f.to_dict() for f in self.fields]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Schema":
        known = {"fields", "label", "label_map", "task", "missing_values"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchemaError(
                f"schema: unknown option(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(known))}"
            )
        fields = data.get("fields")
        if not isinstance(fields, Sequence) or isinstance(fields, (str, bytes)):
            raise SchemaError("schema: 'fields' must be a list of field specs")
        return cls(
            fields=[FeatureSpec.from_dict(f) for f in fields],
            label=data.get("label"),
            label_map=data.get("label_map"),
            task=data.get("task", "binary"),
            missing_values=data.get("missing_values", MISSING_VALUES),
        )

    @classmethod
    def from_columns(
        cls,
        label: Optional[str],
        categorical: Sequence[str] = (),
        numeric: Sequence[str] = (),
        sequence: Union[Sequence[str], Mapping[str, str]] = (),
        **options: Any,
    ) -> "Schema":
        """A schema from column-name lists; ``sequence`` may map a name to its separator."""
        fields = [FeatureSpec(name=c, type="categorical") for c in categorical]
        fields += [FeatureSpec(name=c, type="numeric") for c in numeric]
        seps = dict(sequence) if isinstance(sequence, Mapping) else {s: "|" for s in sequence}
        fields += [FeatureSpec(name=c, type="sequence", separator=sep) for c, sep in seps.items()]
        return cls(fields=fields, label=label, **options)

    def describe(self) -> str:
        """A fixed-width table of the fields, for printing (a binned numeric field is embedded like a
        categorical one: an id per bin)."""
        rows = [("field", "type", "column", "options")]
        for f in self.fields:
            opts = {k: v for k, v in f.to_dict().items() if k not in ("name", "type", "column")}
            rows.append((f.name, "numeric, binned" if f.buckets else f.type, f.column or "",
                         ", ".join(f"{k}={v}" for k, v in opts.items())))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"label: {self.label} ({self.task})"]
        lines += ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
        return "\n".join(line.rstrip() for line in lines)
