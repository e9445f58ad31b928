"""The search space of ``ctrkit tune``: the ``tune:`` section of a config.

Keys with a dot are config keys as ``--set`` takes them, each with one distribution; keys without
a dot are the study's settings::

    tune:
      trials: 40                                   # default for --trials
      pruner: median                               # median | hyperband | none
      startup_trials: 5                            # random trials before TPE, and before pruning
      train.lr: {loguniform: [1.0e-4, 1.0e-2]}
      train.batch_size: {choice: [512, 1024, 2048]}
      model.embedding_dim: {choice: [8, 16, 32]}
      model.dnn_dropout: {uniform: [0.0, 0.5]}
      model.dnn_units: {choice: [[400, 400, 400], [256, 128]]}
      model.attention_layers: {int: [1, 4]}

Every value a distribution can give is checked against the config (the key exists for the
config's model, the type fits) before the first trial, with errors that name the key.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ..config import ConfigError, set_key, validate

RANGES = ("uniform", "loguniform", "int", "logint")
KINDS = RANGES + ("choice",)
SETTINGS: Dict[str, Any] = {"trials": 20, "pruner": "median", "startup_trials": 5}
PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class Param:
    """One searched config key: ``kind`` is a range (``args`` = low, high) or ``choice`` (``args`` = the choices)."""

    key: str
    kind: str
    args: Tuple[Any, ...]

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial draws for this key (a choice of lists is drawn by its JSON text)."""
        if self.kind == "choice":
            if all(isinstance(c, (str, int, float, bool)) or c is None for c in self.args):
                return trial.suggest_categorical(self.key, list(self.args))
            return json.loads(trial.suggest_categorical(self.key, [json.dumps(c) for c in self.args]))
        low, high = self.args
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.key, low, high, log=self.kind == "logint")
        return trial.suggest_float(self.key, low, high, log=self.kind == "loguniform")

    def corners(self) -> List[Any]:
        """Values that span what ``suggest`` can give (both ends of a range, every choice)."""
        return list(self.args)


@dataclass(frozen=True)
class Space:
    """The searched keys and the study's settings (``SETTINGS`` with the config's values)."""

    params: Tuple[Param, ...]
    settings: Dict[str, Any]

    def apply(self, config: Dict[str, Any], values: Mapping[str, Any]) -> Dict[str, Any]:
        """A copy of ``config`` with ``values`` (key → value) set, validated."""
        out = copy.deepcopy(config)
        for key, value in values.items():
            set_key(out, key, value, where=f"tune.{key}")
        validate(out)
        return out


def parse_space(config: Dict[str, Any]) -> Space:
    """The ``tune:`` section of a validated ``config``, checked; ConfigError names the key at fault."""
    section = config.get("tune") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"tune: expected a mapping of KEY: {{distribution: ...}}, got {type(section).__name__}")
    settings = dict(SETTINGS)
    params = []
    for key, spec in section.items():
        if "." not in str(key):
            settings[key] = _setting(key, spec)
            continue
        params.append(_param(str(key), spec))
    if not params:
        raise ConfigError("tune: no key to search; add e.g. 'train.lr: {loguniform: [1.0e-4, 1.0e-2]}' under tune: "
                          "(configs/*.yaml have a default space)")
    space = Space(tuple(params), settings)
    for param in params:
        for value in param.corners():
            try:
                space.apply(config, {param.key: value})
            except ConfigError as exc:
                raise ConfigError(f"tune.{param.key}: the value {value!r} does not fit the config: {exc}") from None
    return space


def _setting(key: str, value: Any) -> Any:
    if key not in SETTINGS:
        raise ConfigError(f"tune.{key}: unknown setting; settings: {', '.join(SETTINGS)}, and searched keys are "
                          "dotted config keys such as train.lr")
    if key == "pruner" and value not in PRUNERS:
        raise ConfigError(f"tune.pruner: expected one of {', '.join(PRUNERS)}, got {value!r}")
    if key in ("trials", "startup_trials") and (not isinstance(value, int) or isinstance(value, bool) or value < 0
                                               or (key == "trials" and value < 1)):
        raise ConfigError(f"tune.{key}: expected a whole number of at least {1 if key == 'trials' else 0}, "
                          f"got {value!r}")
    return value


def _param(key: str, spec: Any) -> Param:
    where = f"tune.{key}"
    if key in ("out", "tune") or key.startswith("tune."):
        raise ConfigError(f"{where}: this key cannot be searched")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{where}: expected one distribution, e.g. {{loguniform: [1.0e-4, 1.0e-2]}} or "
                          f"{{choice: [8, 16]}}; kinds: {', '.join(KINDS)}; got {spec!r}")
    kind, args = next(iter(spec.items()))
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown distribution {kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(args, Sequence) or isinstance(args, str):
        raise ConfigError(f"{where}: {kind} expects a list, got {args!r}")
    if kind == "choice":
        if not args:
            raise ConfigError(f"{where}: choice expects at least one value")
        return Param(key, kind, tuple(args))
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"{where}: {kind} expects [low, high] numbers, got {args!r}")
    low, high = args
    if kind in ("int", "logint") and not all(isinstance(a, int) for a in args):
        raise ConfigError(f"{where}: {kind} expects whole numbers, got {args!r}")
    if not low < high:
        raise ConfigError(f"{where}: expected low < high, got {args!r}")
    if kind.startswith("log") and low <= 0:
        raise ConfigError(f"{where}: {kind} needs low > 0, got {low!r}")
    return Param(key, kind, (low, high))


__all__ = ["KINDS", "PRUNERS", "SETTINGS", "Param", "Space", "parse_space"]
