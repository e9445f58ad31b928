"""Experiment configs: YAML in, validated, with errors that name the key and the expected type.

An experiment has six sections besides ``seed`` and ``out``:

```yaml
seed: 0
out: runs/adult_deepfm
data:     {dataset: adult}                     # or train/valid/test files + label + field lists
model:    {name: deepfm, embedding_dim: 16, dnn_units: [400, 400, 400]}
pretrain: {model: fm, epochs: 5, freeze: false}   # optional: FNN's two-stage recipe ("pretrain: fm" works too)
train:    {epochs: 10, batch_size: 1024, lr: 0.001, patience: 2}
tune:     {train.lr: {loguniform: [1.0e-4, 1.0e-2]}}   # optional: the search space of `ctrkit tune`
```
Every key can be overridden with ``--set section.key=value`` (value parsed as YAML).
"""
from __future__ import annotations

import copy
import os
import sys
from dataclasses import asdict
from typing import Any, Dict, Mapping, Optional, Sequence

import yaml

from .errors import CTRKitError
from .train.device import check_device
from .train.options import TrainConfig, option_problems


class ConfigError(CTRKitError, ValueError):
    """A config key is unknown or has the wrong type."""


DATA_DEFAULTS: Dict[str, Any] = {
    "dataset": None,          # a built-in dataset name
    "options": {},            # its loader options (path, n_rows, ...)
    "train": None, "valid": None, "test": None,
    "label": None, "label_map": None,
    "categorical": [], "numeric": [], "sequence": [],   # sequence entries NAME or NAME:SEP
    "schema": None,           # a schema (mapping) or the path of a YAML schema file
    "prepared": None,         # a folder written by `ctrkit prepare` (instead of dataset or files)
    "valid_fraction": 0.1,    # held out of train (stratified) when no valid split is given
    "read": {},               # reader options: sep, encoding, header, column_names, on_bad_rows
}
# keys whose value is one mapping (set as a whole), not a section of keys
VALUE_MAPPINGS = ("options", "read", "schema", "label_map", "tune")
PRETRAIN_DEFAULTS: Dict[str, Any] = {"model": "fm", "epochs": 5, "freeze": False}
TRAIN_DEFAULTS: Dict[str, Any] = {k: v for k, v in asdict(TrainConfig()).items() if k != "seed"}  # seed: top level
TOP_DEFAULTS: Dict[str, Any] = {"seed": 0, "out": None, "data": DATA_DEFAULTS, "model": {"name": None},
                                "pretrain": None, "train": TRAIN_DEFAULTS,
                                "tune": None}   # the search space of `ctrkit tune` (ctrkit.tune.space)


def default_config() -> Dict[str, Any]:
    return copy.deepcopy(TOP_DEFAULTS)


def load_config(path: Optional[str] = None, overrides: Sequence[str] = (), **flags: Any) -> Dict[str, Any]:
    """Defaults ← YAML file (without one: the built-in recipe of the flags' dataset and model, if
    any) ← flags (dotted keys) ← ``--set`` overrides, validated."""
    config = default_config()
    if path:
        with open(path) as fh:
            loaded = _yaml(fh, path) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
        _merge(config, loaded, path)
    else:
        recipe = built_in_recipe(flags.get("data.dataset"), flags.get("model.name"))
        if recipe:
            _merge(config, recipe, f"the built-in recipe of {flags['data.dataset']}/{flags['model.name']}")
            if os.environ.get("RANK", "0") == "0":   # under torchrun, once
                    print(f"note: starting from the built-in recipe of {flags['model.name']} on {flags['data.dataset']} "
                      f"(configs/{flags['data.dataset']}_{flags['model.name'].replace('+', '_plus')}.yaml's values; "
                      "flags and --set change them)", file=sys.stderr)
    template = dict(config["model"])
    for key, value in flags.items():
        if value is not None:
            set_key(config, key, value)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        set_key(config, key.strip(), _yaml(text, f"--set {item}"))
    _drop_other_models_options(config["model"], template)
    validate(config)
    return config


def built_in_recipe(dataset: Optional[str], model: Optional[str]) -> Optional[Dict[str, Any]]:
    """The sections (data options, model options, pretrain, train) that ``ctrkit train --dataset
    DATASET --model MODEL`` starts from without a config: ``ctrkit/recipes/DATASET.yaml``, the
    measured values of ``configs/DATASET_MODEL.yaml``; None where there is none."""
    if not dataset or not model:
        return None
    path = os.path.join(os.path.dirname(__file__), "recipes", f"{dataset}.yaml")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        recipe = (yaml.safe_load(fh) or {}).get(model)
    return copy.deepcopy(recipe) if recipe else None


def _drop_other_models_options(model: Dict[str, Any], template: Dict[str, Any]) -> None:
    """Model options set to null are removed (the model's default applies); when the model was
    switched away from the config file's (``--model fignn`` on a DeepFM template), the file's
    options that the new model does not take are dropped, each with a note on stderr (an option
    set again on the command line is kept, and refused by ``validate`` if the model lacks it)."""
    from .models.base import COMMON, MODELS, model_options

    for key in [k for k, v in model.items() if v is None and k != "name"]:
        del model[key]
    old, new = template.get("name"), model.get("name")
    if old == new or new not in MODELS:
        return
    options = model_options(new)
    dropped = [k for k in template if k != "name" and k in model and k not in options and model[k] == template[k]]
    for key in dropped:
        del model[key]
    if dropped:
        print(f"note: model {new!r} does not take {', '.join(f'model.{k}' for k in dropped)} "
              f"(options of the config's {old!r}): dropped", file=sys.stderr)
    kept = [k for k in template if k in model and k in options and model[k] == template[k] and k not in COMMON
            and _plain(model[k]) != _plain(options[k])]
    if kept:
        print(f"note: model {new!r} keeps {', '.join(f'model.{k}={_plain(model[k])}' for k in kept)} from the "
              f"config's {old!r} (--set model.KEY=null gives {new}'s default)", file=sys.stderr)


def _yaml(stream: Any, where: str) -> Any:
    """YAML text parsed, or a ConfigError naming ``where`` and the line and column of the mistake."""
    try:
        return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{at}: not valid YAML ({problem})") from None


def _merge(config: Dict[str, Any], loaded: Mapping[str, Any], where: str, prefix: str = "") -> None:
    for key, value in loaded.items():
        set_key(config, f"{prefix}{key}", value, where)


def set_key(config: Dict[str, Any], dotted: str, value: Any, where: str = "--set") -> None:
    """Set ``a.b.c`` in a nested config; a mapping value for a section merges key by key."""
    parts = dotted.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        if part == "pretrain" and node.get(part) is None:
            node[part] = copy.deepcopy(PRETRAIN_DEFAULTS)
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"{where}: {'.'.join(parts[:i + 1])!r} is not a section (cannot set {dotted!r})")
        node = node[part]
    last = parts[-1]
    if last == "pretrain" and node is config:
        if isinstance(value, str):
            value = {"model": value}
        if value is not None:
            merged = copy.deepcopy(PRETRAIN_DEFAULTS)
            merged.update(value)
            value = merged
    if isinstance(node.get(last), dict) and isinstance(value, Mapping) and last not in VALUE_MAPPINGS:
        for k, v in value.items():
            set_key(config, f"{dotted}.{k}", v, where)
        return
    node[last] = value


def _check(section: str, values: Mapping[str, Any], defaults: Mapping[str, Any], free: Sequence[str] = ()) -> None:
    for key, value in values.items():
        if key in free:
            continue
        if key not in defaults:
            raise ConfigError(f"unknown key {section + '.' if section else ''}{key}; "
                              f"valid keys: {', '.join(sorted(defaults))}")
        _check_type(f"{section}.{key}", value, defaults[key])


def _check_type(key: str, value: Any, default: Any) -> None:
    if value is None or default is None:
        return
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if expected in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}")


def validate(config: Dict[str, Any]) -> None:
    from .models.base import MODELS, model_options

    _check("", {k: v for k, v in config.items()}, TOP_DEFAULTS)
    _check("data", config["data"], DATA_DEFAULTS)
    _check("train", config["train"], TRAIN_DEFAULTS)
    problems = option_problems(config["train"])
    if isinstance(config["model"].get("embedding_dim"), int) and config["model"]["embedding_dim"] < 1:
        problems.append(f"model.embedding_dim: expected at least 1, got {config['model']['embedding_dim']}")
    if config["pretrain"] is not None and isinstance(config["pretrain"].get("epochs"), int) \
            and config["pretrain"]["epochs"] < 1:
        problems.append(f"pretrain.epochs: expected at least 1, got {config['pretrain']['epochs']}")
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        check_device(config["train"]["device"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if config["pretrain"] is not None:
        _check("pretrain", config["pretrain"], PRETRAIN_DEFAULTS)
    model = config["model"]
    name = model.get("name")
    if not name:
        raise ConfigError("model.name is required (one of: " + ", ".join(MODELS) + ")")
    if name not in MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}; models: {', '.join(MODELS)}")
    options = model_options(name)
    for key, value in model.items():
        if key == "name":
            continue
        if key not in options:
            raise ConfigError(f"unknown key model.{key} for model {name!r}; valid keys: {', '.join(sorted(options))}")
        _check_type(f"model.{key}", value, options[key])
    data = config["data"]
    given = [k for k in ("dataset", "prepared") if data[k]] + (["train"] if data["train"] and not data["dataset"] else [])
    if not given:
        raise ConfigError("data: give data.dataset (a built-in dataset), data.train (a file) or data.prepared "
                          "(a folder written by `ctrkit prepare`)")
    if len(given) > 1:
        raise ConfigError(f"data: give one of data.dataset, data.train or data.prepared, not {' and '.join(given)}")
    if config["pretrain"] is not None and name != "fnn":
        raise ConfigError(f"pretrain applies to model fnn (the two-stage FNN), not {name!r}")


def flatten(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """A config as dotted keys (``train.lr``) → values; value mappings (``VALUE_MAPPINGS``) stay whole."""
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value and key not in VALUE_MAPPINGS:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def dump_config(config: Dict[str, Any]) -> str:
    return yaml.safe_dump(_plain(config), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def train_config(config: Dict[str, Any]) -> TrainConfig:
    return TrainConfig(seed=config["seed"], **config["train"])


def model_kwargs(config: Dict[str, Any]) -> Dict[str, Any]:
    """Model options without the name; lists become tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config["model"].items() if k != "name"}


__all__ = ["ConfigError", "default_config", "dump_config", "flatten", "load_config", "model_kwargs", "set_key", "train_config",
           "validate"]
