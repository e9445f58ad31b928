"""CTRModel (a Batch → logits [B]), the model registry and ``build_model``."""
from __future__ import annotations

import inspect
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Type

import torch
from torch import nn

from ..data.batch import Batch
from ..features.feature_map import FeatureMap
from ..nn.embedding import FieldEmbedding
from ..nn.linear import LinearTerm

MODELS: Dict[str, Type["CTRModel"]] = {}
TASKS = ("binary", "regression")
L2_SCOPES = ("batch", "table")    # embedding_l2 over the rows a batch looks up, or over whole tables


def register(name: str):
    """Class decorator: make a model buildable by ``name``."""
    def wrap(cls: Type["CTRModel"]) -> Type["CTRModel"]:
        MODELS[name] = cls
        return cls
    return wrap


class CTRModel(nn.Module):
    """Base of every model: holds the feature map, the common options and the regularizers.

    Subclasses build their blocks in ``__init__`` and implement ``forward(batch) → logits [B]``
    (the sigmoid belongs to the loss and to prediction) and, if they attend to something,
    ``explain(batch)``. ``penalty()`` returns the L2 terms for the loss:
    ``embedding_l2 · Σ‖e‖²/B`` over the embeddings looked up since the last call (or, with
    ``embedding_l2_scope='table'``, FuxiCTR's ``embedding_l2/2 · Σ‖T‖²`` over whole embedding
    tables, each step), plus ``net_l2 · Σ‖W‖²`` over the weight matrices outside the tables.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        embedding_dim: D, the width of every field's embedding.
        embedding_l2: the L2 weight on the embeddings looked up in a batch.
        embedding_l2_scope: ``batch`` (the rows a batch looks up, as DeepCTR) or ``table`` (every
            row of every table, as FuxiCTR's ``embedding_regularizer`` and so BARS's configs).
        net_l2: the L2 weight on the weight matrices outside the embedding tables.
        sparse: embedding tables with sparse gradients (and a row-wise optimizer).
        init_std: the standard deviation of the initial embeddings.
        task: ``binary`` (logits for a sigmoid) or ``regression``.
    """

    paper: ClassVar[str] = ""
    # whether bfloat16 autocast trains it faster at the same AUC where the device computes bf16
    # natively (train.bf16: auto); measured per model, benchmarks/RESULTS.md
    bf16_pays: ClassVar[bool] = False

    def __init__(self, feature_map: FeatureMap, embedding_dim: int = 16, embedding_l2: float = 0.0,
                 net_l2: float = 0.0, sparse: bool = False, init_std: float = 0.01, task: str = "binary",
                 embedding_l2_scope: str = "batch") -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if embedding_l2_scope not in L2_SCOPES:
            raise ValueError(f"embedding_l2_scope: expected one of {L2_SCOPES}, got {embedding_l2_scope!r}")
        if embedding_l2_scope == "table" and sparse and embedding_l2 > 0:
            raise ValueError("embedding_l2_scope 'table' penalises every row each step, which makes the tables' "
                             "gradients dense: use sparse: false, or embedding_l2_scope: batch")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim: expected at least 1, got {embedding_dim}")
        self.feature_map = feature_map
        self.embedding_dim, self.embedding_l2, self.net_l2 = embedding_dim, embedding_l2, net_l2
        self.sparse, self.init_std, self.task = sparse, init_std, task
        self.embedding_l2_scope = embedding_l2_scope
        self._embedding_sq: Optional[torch.Tensor] = None

    # -- helpers for subclasses -------------------------------------------------------
    def field_embedding(self, dim: Optional[int] = None, fields: Optional[Sequence[str]] = None) -> FieldEmbedding:
        return FieldEmbedding(self.feature_map, dim or self.embedding_dim, fields, self.sparse, self.init_std)

    def linear_term(self, fields: Optional[Sequence[str]] = None) -> LinearTerm:
        """b + Σ w_x, the LR term."""
        return LinearTerm(self.feature_map, fields, self.sparse)

    def embed(self, embedding: FieldEmbedding, batch: Batch) -> torch.Tensor:
        """E = embedding(batch), remembering Σ‖e‖²/B for the embedding penalty while training."""
        e = embedding(batch)
        if self.training and self.embedding_l2 > 0 and self.embedding_l2_scope == "batch":
            sq = e.pow(2).sum() / max(len(batch), 1)
            self._embedding_sq = sq if self._embedding_sq is None else self._embedding_sq + sq
        return e

    # -- public -----------------------------------------------------------------------
    def forward(self, batch: Batch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def scorer(self, rows: Optional[int] = None) -> nn.Module:
        """What prediction of ``rows`` rows (None: any number) runs, batch → logits [B]: the model
        itself, or an equivalent for inference over the weights as they are now (LR and FM:
        ``nn.FrozenFM``; FNN and DeepFM: ``nn.FoldedMLP``; when it pays for building its table)."""
        return self

    def penalty(self) -> torch.Tensor:
        total = torch.zeros(())
        if self._embedding_sq is not None:
            total = total + self.embedding_l2 * self._embedding_sq
            self._embedding_sq = None
        if self.embedding_l2 > 0 and self.embedding_l2_scope == "table":
            tables = [m.weight for m in self.modules() if isinstance(m, nn.Embedding) and m.weight.requires_grad]
            total = total + self.embedding_l2 / 2 * sum(t.pow(2).sum() for t in tables)
        if self.net_l2 > 0:
            total = total + self.net_l2 * sum(p.pow(2).sum() for p in self.network_weights())
        return total

    def network_weights(self) -> List[nn.Parameter]:
        """Weight matrices (2-D and up) outside the embedding modules."""
        inside = {id(p) for m in self.modules() if isinstance(m, FieldEmbedding) for p in m.parameters()}
        return [p for p in self.parameters() if p.dim() >= 2 and id(p) not in inside and p.requires_grad]

    def explain(self, batch: Batch) -> Dict[str, Any]:
        """What the model attends to, labelled with field names (models without attention: {})."""
        return {}

    @property
    def field_names(self) -> List[str]:
        return self.feature_map.names

    @property
    def device(self) -> torch.device:
        """Where the parameters are (the CPU for a model without any)."""
        return next((p.device for p in self.parameters()), torch.device("cpu"))


# the options every model takes (``CTRModel``'s own): a config's carry over to any model
COMMON = tuple(list(inspect.signature(CTRModel.__init__).parameters)[2:])


def model_options(name: str) -> Dict[str, Any]:
    """The options of a model and their defaults (common options included)."""
    options: Dict[str, Any] = {}
    for klass in reversed(MODELS[name].__mro__):
        if not (isinstance(klass, type) and issubclass(klass, CTRModel)):
            continue
        for p in list(inspect.signature(klass.__init__).parameters.values())[2:]:
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                options[p.name] = p.default
    return options


def parameter_bytes(name: str, feature_map: FeatureMap, **options: Any) -> Dict[str, int]:
    """The bytes of a model's parameters, in all and in its embedding tables, counted on the meta
    device (nothing is allocated), so that a model too large for memory is refused before it is
    built."""
    with torch.device("meta"):
        model = build_model(name, feature_map, **options)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    tables = sum(m.weight.numel() * m.weight.element_size() for m in model.modules()
                 if isinstance(m, torch.nn.Embedding))
    return {"total": total, "embeddings": tables}


def build_model(name: str, feature_map: FeatureMap, **options: Any) -> CTRModel:
    """A registered model by name; unknown options raise an error listing the valid ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"model {name!r}: unknown option(s) {unknown}; valid options: {', '.join(valid)}")
    return MODELS[name](feature_map, **options)
