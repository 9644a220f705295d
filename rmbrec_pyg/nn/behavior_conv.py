from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn.conv import LGConv
from torch_geometric.typing import Adj, OptTensor

from rmbrec_pyg.graph.adjacency import spmm_normalize, symmetric_spmm


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Row-wise L2 normalisation, :math:`\mathbf{x}/\max(\|\mathbf{x}\|,
    \epsilon)`, as :func:`torch.nn.functional.normalize` but with fewer
    kernels in forward and backward."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True).clamp_min(eps * eps))


def _is_torch_sparse(adj: Any) -> bool:
    return isinstance(adj, Tensor) and adj.layout in (torch.sparse_csr,
                                                      torch.sparse_coo)


class BehaviorConv(LGConv):
    r"""The LightGCN propagation of one behavior graph, from the
    `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper:
    :class:`~torch_geometric.nn.conv.LGConv` with the adjacency normalised
    once beforehand (:func:`~rmbrec_pyg.graph.normalized_adjacency`), and
    optionally the row-wise L2 normalisation of its output that the RMBRec
    authors apply to every layer:

    .. math::
        \mathbf{X}^{(k+1)} = \hat{\mathbf{A}}\, \mathbf{X}^{(k)}
        \qquad\text{or}\qquad
        \mathbf{X}^{(k+1)} = \mathrm{normalize}(\hat{\mathbf{A}}\,
        \mathbf{X}^{(k)}).

    Passed a symmetric torch sparse adjacency, :meth:`message_and_aggregate`
    runs one sparse-dense product (CPU or CUDA) whose backward reuses the
    same matrix; with :obj:`normalize_output` and :obj:`fused` the product
    and the normalisation are one autograd node. A plain :obj:`edge_index`
    with :obj:`edge_weight` also works (gather and scatter, slower).

    Args:
        normalize_output (bool): L2-normalise every output row.
            (default: :obj:`False`)
        fused (bool): With :obj:`normalize_output` on a torch sparse
            adjacency, propagate and normalise in one autograd node (faster,
            not twice differentiable). (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, sparse
          adjacency :math:`(|\mathcal{V}|, |\mathcal{V}|)` or edge indices
          :math:`(2, |\mathcal{E}|)`, edge weights :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """
    def __init__(self, normalize_output: bool = False, fused: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(normalize=False, **kwargs)
        self.normalize_output = normalize_output
        self.fused = fused

    def _fuses(self, adj: Any) -> bool:
        return self.normalize_output and self.fused and _is_torch_sparse(adj)

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None) -> Tensor:
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        if self.normalize_output and not self._fuses(edge_index):
            out = l2_normalize(out)
        return out

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        # The normalised adjacency is symmetric, so adj_t == adj.
        if self._fuses(adj_t):
            return spmm_normalize(adj_t, x)
        return symmetric_spmm(adj_t, x)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(normalize_output='
                f'{self.normalize_output}, fused={self.fused})')
