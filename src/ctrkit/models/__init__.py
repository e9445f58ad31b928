"""The model zoo, registered by name: lr, fm, fnn, deepfm, afm, autoint, autoint+, fignn."""
from . import afm, autoint, deepfm, fignn, fm, fnn, lr  # noqa: F401  (registration)
from .afm import AFM
from .autoint import AutoInt, AutoIntPlus
from .base import MODELS, CTRModel, build_model, model_options, register
from .deepfm import DeepFM
from .fignn import FiGNN
from .fm import FM
from .fnn import FNN
from .lr import LR

__all__ = ["AFM", "AutoInt", "AutoIntPlus", "CTRModel", "DeepFM", "FiGNN", "FM", "FNN", "LR", "MODELS",
           "build_model", "model_options", "register"]
