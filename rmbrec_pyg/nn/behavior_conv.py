from typing import Optional

from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor

from rmbrec_pyg.graph.adjacency import symmetric_spmm


class BehaviorConv(MessagePassing):
    r"""The LightGCN propagation of one behavior graph, from the
    `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper, without
    normalisation at call time:

    .. math::
        \mathbf{X}^{(k+1)} = \hat{\mathbf{A}}\, \mathbf{X}^{(k)}

    The adjacency is normalised once per graph
    (:func:`~rmbrec_pyg.graph.normalized_adjacency`) and passed as a sparse
    matrix, so that :meth:`message_and_aggregate` runs one fused sparse-dense
    product (CPU or CUDA) whose backward reuses the same symmetric matrix. A
    plain :obj:`edge_index` with :obj:`edge_weight` also works (gather and
    scatter, slower).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, sparse
          adjacency :math:`(|\mathcal{V}|, |\mathcal{V}|)` or edge indices
          :math:`(2, |\mathcal{E}|)`, edge weights :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """
    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None) -> Tensor:
        return self.propagate(edge_index, x=x, edge_weight=edge_weight)

    def message(self, x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        # The normalised adjacency is symmetric, so adj_t == adj.
        return symmetric_spmm(adj_t, x)
