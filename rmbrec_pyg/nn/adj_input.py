r"""The target graph as PyG's LightGCN takes it (``Adj``: an
:obj:`edge_index`, a torch.sparse adjacency or torch_sparse's
:class:`SparseTensor`, over users :obj:`0..U-1` then items, one or both
directions), turned into the unique :obj:`[2, E]` user-item pairs this
package's encoder normalises."""
import torch
from torch import Tensor
from torch_geometric.typing import Adj


def as_edge_index(adj: Adj, num_nodes: int, name: str) -> Tensor:
    r"""The :obj:`[2, E]` edge_index of :obj:`adj`, an unweighted
    :obj:`[N, N]` adjacency in any of PyG's ``Adj`` forms; a wrong shape,
    edge weights or another type raise an error naming :obj:`name` (the
    model)."""
    if isinstance(adj, Tensor) and adj.layout == torch.strided:
        if adj.dim() != 2 or adj.size(0) != 2:
            raise ValueError(f"'{name}' expects an edge_index of shape "
                             f'[2, E] (got {list(adj.shape)})')
        return adj
    if isinstance(adj, Tensor):  # torch.sparse
        coo = adj.to_sparse_coo().coalesce() if adj.layout != \
            torch.sparse_coo else adj.coalesce()
        index, values = coo.indices(), coo.values()
    elif hasattr(adj, 'coo') and hasattr(adj, 'sparse_sizes'):
        row, col, values = adj.coo()  # torch_sparse.SparseTensor
        index = torch.stack([row, col])
    else:
        raise TypeError(f"'{name}' expects an edge_index, a torch.sparse "
                        f'adjacency or a SparseTensor (got '
                        f'{type(adj).__name__})')
    if tuple(adj.size()) != (num_nodes, num_nodes):
        raise ValueError(f"'{name}': the adjacency must be [N, N] with N "
                         f'= {num_nodes} users and items (got '
                         f'{list(adj.size())})')
    if values is not None and not bool((values == 1).all()):
        raise ValueError(f"'{name}': edge weights are not supported (the "
                         'adjacency has values other than 1); every '
                         'behavior graph is normalised as LightGCN does')
    return index


def user_item_pairs(index: Tensor, num_users: int, num_items: int,
                    name: str) -> Tensor:
    r"""The unique (user, item) pairs, 0-based in each node type, of an
    edge_index in the homogeneous numbering, whichever direction each edge
    has; a user-user or item-item edge raises an error naming :obj:`name`.
    """
    u, v = index
    if bool(((u < num_users) == (v < num_users)).any()):
        raise ValueError(f"'{name}': the target graph holds user-user or "
                         'item-item pairs; expected user-item edges (users '
                         f'0..{num_users - 1}, then items)')
    users = torch.where(u < num_users, u, v)
    items = torch.where(u < num_users, v, u) - num_users
    keys = torch.unique(users * num_items + items)
    return torch.stack([keys // num_items, keys % num_items])
