"""Shared building blocks of the models."""
from .attention import MultiHeadSelfAttention
from .cin import CompressedInteraction
from .cross import CrossLayerV2, CrossNet, CrossNetV2
from .embedding import FieldEmbedding
from .factorized import FactorizedBlock, FactorizedInteraction
from .folded_mlp import FoldedMLP, LogitSum
from .frozen_fm import FrozenFM
from .fusion import BilinearFusion
from .gating import FeatureSelection, FieldGate
from .graph import AttentionalEdges, FieldGraph, GraphLayer
from .interaction import AttentionalPooling, PairwiseDots, PairwiseProducts, bi_interaction, fm_second_order, \
    outer_product
from .mlp import MLP, Dice, activation
from .scoring import AttentionalScoring
from .senet import BilinearInteraction, SqueezeExcitation
from .target_attention import TargetAttention

__all__ = ["AttentionalEdges", "AttentionalPooling", "AttentionalScoring", "BilinearFusion", "BilinearInteraction",
           "CompressedInteraction", "CrossLayerV2", "CrossNet", "CrossNetV2", "Dice", "FactorizedBlock",
           "FactorizedInteraction", "FeatureSelection", "FieldEmbedding", "FieldGate", "FieldGraph", "FoldedMLP",
           "FrozenFM", "GraphLayer", "LogitSum", "MLP", "MultiHeadSelfAttention", "PairwiseDots", "PairwiseProducts",
           "SqueezeExcitation", "TargetAttention", "activation", "bi_interaction", "fm_second_order", "outer_product"]
