"""``ctrkit tune``: hyperparameter search with Optuna over a config's ``tune:`` space
(``pip install 'ctrkit[tune]'``)."""
from .space import Param, Space, parse_space
from .study import Pruning, TuneError, is_tune_folder, tune

__all__ = ["Param", "Pruning", "Space", "TuneError", "is_tune_folder", "parse_space", "tune"]
