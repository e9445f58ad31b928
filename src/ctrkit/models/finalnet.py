"""FinalNet (Zhu et al., "FINAL: Factorized Interaction Layer for CTR Prediction", SIGIR 2023):
MLP blocks whose linear layers are factorized interaction layers ([h_1, h_2] = W x + b →
[h_2, h_1 ⊙ h_2], ``nn.FactorizedBlock``). One block (``1B``) over the field-gated embeddings,
or two (``2B``: the second over flatten(E)) whose logits are averaged, ŷ = (ŷ_1 + ŷ_2)/2, and
trained with self-knowledge distillation: the loss adds CE(ŷ_1, σ(ŷ)) + CE(ŷ_2, σ(ŷ)) with the
ensemble ŷ as a fixed teacher (the paper's Sec. 3.3; ``penalty()`` carries the two terms)."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch
from ..nn.factorized import FactorizedBlock
from ..nn.gating import FieldGate
from .base import CTRModel, register

BLOCKS = ("1B", "2B")


@register("finalnet")
class FinalNet(CTRModel):
    """The module's equation: one or two factorized interaction blocks.

    Args:
        feature_map: the encoded fields (``Processor.feature_map()``).
        block_type: ``1B`` or ``2B``.
        block1_units, block2_units: the blocks' widths (even, with ``residual`` ``concat``).
        block1_dropout, block2_dropout: their dropout.
        dnn_activation, batch_norm: the blocks' activation and batch norm.
        residual: ``concat`` or ``sum`` (``nn.FactorizedInteraction``).
        field_gate: block 1 reads [E, g ⊙ E] (``nn.FieldGate``) instead of E.
        distill: with ``2B``, add the self-distillation terms to the training loss.
        **common: ``CTRModel``'s options (embedding_dim, embedding_l2(_scope), net_l2, sparse, init_std, task).

    Shapes:
        Batch of B rows → logits [B].
    """
    paper = "Zhu et al., FINAL: Factorized Interaction Layer for CTR Prediction, SIGIR 2023"

    def __init__(self, feature_map, block_type: str = "2B", block1_units: Sequence[int] = (400, 400, 400),
                 block2_units: Sequence[int] = (400,), block1_dropout: float = 0.0, block2_dropout: float = 0.0,
                 dnn_activation: Union[str, Sequence[str]] = "relu", batch_norm: bool = True,
                 residual: str = "concat", field_gate: bool = True, distill: bool = True, **common) -> None:
        super().__init__(feature_map, **common)
        if block_type not in BLOCKS:
            raise ValueError(f"block_type must be one of {', '.join(BLOCKS)}, got {block_type!r}")
        self.embedding = self.field_embedding()
        f, d = self.embedding.num_fields, self.embedding_dim
        self.gate = FieldGate(f) if field_gate else None
        self.block1 = FactorizedBlock(f * d * (2 if field_gate else 1), block1_units, dnn_activation, block1_dropout,
                                      batch_norm, residual)
        self.fc1 = nn.Linear(self.block1.output_dim, 1)
        two = block_type == "2B"
        self.block2 = (FactorizedBlock(f * d, block2_units, dnn_activation, block2_dropout, batch_norm, residual)
                       if two else None)
        self.fc2 = nn.Linear(self.block2.output_dim, 1) if two else None
        self.distill = distill and two
        self._distill_loss: Optional[torch.Tensor] = None

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(self.embedding, batch)
        x1 = self.gate(e) if self.gate is not None else e
        y1 = self.fc1(self.block1(x1.flatten(1))).squeeze(-1)
        if self.block2 is None:
            return y1
        y2 = self.fc2(self.block2(e.flatten(1))).squeeze(-1)
        y = 0.5 * (y1 + y2)
        if self.distill and self.training and torch.is_grad_enabled():
            self._distill_loss = self._student_loss(y1, y) + self._student_loss(y2, y)
        return y

    def _student_loss(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            return F.mse_loss(student, teacher.detach())
        return F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher).detach())

    def penalty(self) -> torch.Tensor:
        """``CTRModel.penalty`` plus the self-distillation terms of the last training batch."""
        total = super().penalty()
        if self._distill_loss is not None:
            total = total + self._distill_loss
            self._distill_loss = None
        return total
