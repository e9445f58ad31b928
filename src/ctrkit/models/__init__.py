"""The model zoo, registered by name: lr, fm, fnn, deepfm, afm, autoint, autoint+, fignn, widedeep,
pnn, nfm, dcn, dcnv2, xdeepfm, fibinet, dlrm, finalmlp, finalnet, din."""
from . import afm, autoint, dcn, deepfm, din, dlrm, fibinet, fignn, finalmlp, finalnet, fm, fnn, lr, nfm, pnn, \
    widedeep, xdeepfm  # noqa: F401  (registration)
from .afm import AFM
from .autoint import AutoInt, AutoIntPlus
from .base import MODELS, CTRModel, build_model, model_options, register
from .dcn import DCN, DCNv2
from .deepfm import DeepFM
from .din import DIN
from .dlrm import DLRM
from .fibinet import FiBiNET
from .fignn import FiGNN
from .finalmlp import FinalMLP
from .finalnet import FinalNet
from .fm import FM
from .fnn import FNN
from .lr import LR
from .nfm import NFM
from .pnn import PNN
from .widedeep import WideDeep
from .xdeepfm import XDeepFM

__all__ = ["AFM", "AutoInt", "AutoIntPlus", "CTRModel", "DCN", "DCNv2", "DeepFM", "DIN", "DLRM", "FiBiNET", "FiGNN",
           "FinalMLP", "FinalNet", "FM", "FNN", "LR", "MODELS", "NFM", "PNN", "WideDeep", "XDeepFM", "build_model",
           "model_options", "register"]
