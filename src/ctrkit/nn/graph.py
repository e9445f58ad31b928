"""FiGNN's graph blocks (Li et al., "Fi-GNN", CIKM 2019, §4.3-4.4), following FuxiCTR's FiGNN
variant and its option names (``reuse_graph_layer``, ``use_gru``, ``use_residual``): edge weights
from the initial states, per-node input and output matrices, a GRU update and a residual to h^0."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AttentionalEdges(nn.Module):
    """Edge weights of the complete field graph without self-loops (Eq. 6):
    A_ij = softmax_{j≠i} LeakyReLU(wᵀ [h_i ‖ h_j]).

    Args:
        dim: D, the width of a node state.

    Shapes:
        h [B, F, D] → A [B, F, F], zero diagonal, rows sum to 1.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w = nn.Linear(2 * dim, 1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        d = h.shape[-1]
        w_i, w_j = self.w.weight[0, :d], self.w.weight[0, d:]
        scores = F.leaky_relu((h @ w_i).unsqueeze(2) + (h @ w_j).unsqueeze(1))   # [B, F, F]
        eye = torch.eye(h.shape[1], device=h.device).bool()   # (ONNX Runtime has no boolean EyeLike)
        return torch.softmax(scores.masked_fill(eye, float("-inf")), dim=-1)


class GraphLayer(nn.Module):
    """One step of state aggregation with per-node input and output matrices (Eq. 7-8):
    a_i = W_in,i Σ_j A_ij W_out,j h_j + b.

    Args:
        num_fields: F, the nodes (each has its own W_in and W_out).
        dim: D.

    Shapes:
        A [B, F, F], h [B, F, D] → a [B, F, D].
    """

    def __init__(self, num_fields: int, dim: int) -> None:
        super().__init__()
        self.w_out = nn.Parameter(torch.empty(num_fields, dim, dim))
        self.w_in = nn.Parameter(torch.empty(num_fields, dim, dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.xavier_normal_(self.w_out)
        nn.init.xavier_normal_(self.w_in)

    def forward(self, adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        messages = torch.einsum("bfd,fde->bfe", h, self.w_out)         # W_out,j h_j
        aggregated = adjacency @ messages                               # Σ_j A_ij (·)
        return torch.einsum("bfd,fde->bfe", aggregated, self.w_in) + self.bias


class FieldGraph(nn.Module):
    """T steps of FiGNN state propagation (Eq. 9-10): a^t = GraphLayer(A, h^{t−1}),
    h^t = GRU(a^t, h^{t−1}) (or a^t without GRU), h^t += h^0 (residual); A from the initial states.
    ``reuse_graph_layer`` shares one GraphLayer across the T steps.

    Args:
        num_fields: F.
        dim: D.
        steps: T.
        reuse_graph_layer: one GraphLayer for all steps.
        use_gru: the GRU update (else h^t = a^t).
        use_residual: add h^0 after each step.

    Shapes:
        h0 [B, F, D] → final states [B, F, D] and edge weights [B, F, F].
    """

    def __init__(self, num_fields: int, dim: int, steps: int = 3, reuse_graph_layer: bool = False,
                 use_gru: bool = True, use_residual: bool = True) -> None:
        super().__init__()
        self.steps = steps
        self.edges = AttentionalEdges(dim)
        n_layers = 1 if reuse_graph_layer else steps
        self.layers = nn.ModuleList(GraphLayer(num_fields, dim) for _ in range(n_layers))
        self.gru = nn.GRUCell(dim, dim) if use_gru else None
        self.use_residual = use_residual
        self.num_fields, self.dim = num_fields, dim

    def row_bytes(self) -> int:
        """Bytes of one row's largest float32 intermediate, the GRU gates [F, 3D] or the edges
        [F, F] (for ``in_row_chunks``)."""
        return 4 * self.num_fields * max(3 * self.dim, self.num_fields)

    def forward(self, h0: torch.Tensor) -> tuple:
        """h0 [B, F, D] → final states [B, F, D] and edge weights [B, F, F]."""
        adjacency = self.edges(h0)
        h = h0
        b, f, d = h0.shape
        for t in range(self.steps):
            a = self.layers[t % len(self.layers)](adjacency, h)
            h = self.gru(a.reshape(b * f, d), h.reshape(b * f, d)).view(b, f, d) if self.gru is not None else a
            if self.use_residual:
                h = h + h0
        return h, adjacency
