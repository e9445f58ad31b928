"""Shared building blocks of the models."""
from .attention import MultiHeadSelfAttention
from .embedding import FieldEmbedding
from .folded_mlp import FoldedMLP, LogitSum
from .frozen_fm import FrozenFM
from .graph import AttentionalEdges, FieldGraph, GraphLayer
from .interaction import AttentionalPooling, PairwiseProducts, fm_second_order
from .mlp import MLP, Dice, activation
from .scoring import AttentionalScoring

__all__ = ["AttentionalEdges", "AttentionalPooling", "AttentionalScoring", "Dice", "FieldEmbedding", "FieldGraph",
           "FoldedMLP", "FrozenFM", "GraphLayer", "LogitSum", "MLP", "MultiHeadSelfAttention", "PairwiseProducts",
           "activation", "fm_second_order"]
