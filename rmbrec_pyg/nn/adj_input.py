r"""Graphs in the forms PyG code passes them, turned into the unique
:obj:`[2, E]` user-item pairs (and weights) this package's encoder
normalises:

* the target graph of PyG's LightGCN (``Adj``: an :obj:`edge_index`, a
  torch.sparse adjacency or torch_sparse's :class:`SparseTensor`, over users
  :obj:`0..U-1` then items, one or both directions, with an optional
  :obj:`edge_weight`);
* one behavior graph of a heterogeneous model: a :obj:`[2, E]`
  :obj:`(user, item)` index, an :obj:`(edge_index, edge_weight)` pair, or a
  sparse :obj:`[U, I]` adjacency whose values are the weights."""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.typing import Adj, OptTensor

from rmbrec_pyg.graph.adjacency import check_edge_weight

Weighted = Tuple[Tensor, Optional[Tensor]]


def _is_sparse_tensor(adj: Any) -> bool:  # torch_sparse.SparseTensor
    return hasattr(adj, 'coo') and hasattr(adj, 'sparse_sizes')


def sparse_entries(adj: Any, name: str) -> Weighted:
    r"""The :obj:`[2, E]` index and :obj:`[E]` values of a torch.sparse
    tensor (any layout) or a :class:`SparseTensor` (values :obj:`None` when
    it has none)."""
    if isinstance(adj, Tensor) and adj.layout != torch.strided:
        coo = adj.to_sparse_coo().coalesce() if adj.layout != \
            torch.sparse_coo else adj.coalesce()
        return coo.indices(), coo.values()
    if _is_sparse_tensor(adj):
        row, col, values = adj.coo()
        return torch.stack([row, col]), values
    raise TypeError(f"'{name}' expects an edge_index, a torch.sparse "
                    f'adjacency or a SparseTensor (got {type(adj).__name__})')


def _unit_is_none(values: OptTensor) -> OptTensor:
    # An adjacency of ones is unweighted: it takes the unweighted path,
    # bit for bit the same as the plain edge_index.
    if values is None or bool((values == 1).all()):
        return None
    return values


def as_edge_index(adj: Adj, num_nodes: int, name: str,
                  edge_weight: OptTensor = None) -> Weighted:
    r"""The :obj:`[2, E]` edge_index of :obj:`adj`, an :obj:`[N, N]`
    adjacency in any of PyG's ``Adj`` forms, and its weights
    (:obj:`edge_weight`, or the sparse values when they are not all 1;
    :obj:`None` when unweighted). A wrong shape or another type raise an
    error naming :obj:`name` (the model)."""
    if isinstance(adj, Tensor) and adj.layout == torch.strided:
        if adj.dim() != 2 or adj.size(0) != 2:
            raise ValueError(f"'{name}' expects an edge_index of shape "
                             f'[2, E] (got {list(adj.shape)})')
        if edge_weight is not None:
            edge_weight = check_edge_weight(edge_weight, adj.size(1))
        return adj, edge_weight
    index, values = sparse_entries(adj, name)
    if tuple(adj.size()) != (num_nodes, num_nodes):
        raise ValueError(f"'{name}': the adjacency must be [N, N] with N "
                         f'= {num_nodes} users and items (got '
                         f'{list(adj.size())})')
    if edge_weight is not None:
        raise ValueError(f"'{name}': pass the weights as the adjacency's "
                         "values or as 'edge_weight' with an edge_index, "
                         'not both')
    values = _unit_is_none(values)
    if values is not None:
        values = check_edge_weight(values, index.size(1))
    return index, values


def user_item_pairs(index: Tensor, num_users: int, num_items: int,
                    name: str, edge_weight: OptTensor = None) -> Weighted:
    r"""The unique (user, item) pairs, 0-based in each node type, of an
    edge_index in the homogeneous numbering, whichever direction each edge
    has, with each pair's weight: the mean of the weights of its edges (a
    symmetric graph, both directions of weight :math:`w`, gives :math:`w`).
    A user-user or item-item edge raises an error naming :obj:`name`."""
    u, v = index
    if bool(((u < num_users) == (v < num_users)).any()):
        raise ValueError(f"'{name}': the target graph holds user-user or "
                         'item-item pairs; expected user-item edges (users '
                         f'0..{num_users - 1}, then items)')
    users = torch.where(u < num_users, u, v)
    items = torch.where(u < num_users, v, u) - num_users
    keys, inverse = torch.unique(users * num_items + items,
                                 return_inverse=True)
    pairs = torch.stack([keys // num_items, keys % num_items])
    if edge_weight is None:
        return pairs, None
    total = torch.zeros(keys.numel(), dtype=edge_weight.dtype,
                        device=keys.device).index_add_(0, inverse,
                                                       edge_weight)
    count = torch.bincount(inverse, minlength=keys.numel())
    return pairs, total / count.to(total.dtype)


def bipartite_input(graph: Any, num_users: int, num_items: int,
                    name: str) -> Optional[Weighted]:
    r"""The :obj:`(edge_index, edge_weight)` of one behavior graph given
    unnormalised: a :obj:`[2, E]` integer :obj:`(user, item)` index, an
    :obj:`(edge_index, edge_weight)` pair, or a sparse :obj:`[U, I]`
    adjacency (torch.sparse or :class:`SparseTensor`; values not all 1 are
    the weights). Returns :obj:`None` for anything else (e.g. an already
    normalised :obj:`[U + I, U + I]` adjacency). A sparse :obj:`[I, U]`
    (an ``adj_t``) raises an error that says to transpose it."""
    if isinstance(graph, tuple) and len(graph) == 2:
        index, weight = graph
        if weight is not None:
            weight = check_edge_weight(weight, index.size(1))
        return index, weight
    if isinstance(graph, Tensor) and graph.layout == torch.strided:
        if graph.dim() == 2 and graph.size(0) == 2 and \
                not graph.is_floating_point():
            return graph, None
        return None
    if not (isinstance(graph, Tensor) or _is_sparse_tensor(graph)):
        return None
    size = tuple(graph.size())
    if size == (num_users, num_items):
        index, values = sparse_entries(graph, name)
        values = _unit_is_none(values)
        if values is not None:
            values = check_edge_weight(values, index.size(1))
        return index, values
    if size == (num_items, num_users) and num_users != num_items:
        raise ValueError(f"'{name}': a sparse behavior graph must be "
                         f'[users, items] = [{num_users}, {num_items}] (got '
                         f'{list(size)}, an adj_t: pass adj_t.t())')
    return None


def hetero_graphs(data: Any) -> Dict[Any, Any]:
    r"""The behavior graphs of a :class:`~torch_geometric.data.HeteroData`
    (see :func:`~rmbrec_pyg.nn.edge_types.behavior_edge_types`), each an
    :obj:`edge_index`, an :obj:`(edge_index, edge_weight)` pair where the
    edge type stores an :obj:`edge_weight`, or the transposed ``adj_t`` of
    :class:`~torch_geometric.transforms.ToSparseTensor`."""
    from rmbrec_pyg.nn.edge_types import behavior_edge_types
    forward = [t for t in data.edge_types if not str(t[1]).startswith('rev_')]
    given = 'target' in data and getattr(data, 'target', None) is not None
    # any behavior names the user and item node types; the target's place
    # does not matter in a mapping
    _, types = behavior_edge_types(data, None if given or not forward
                                   else forward[0])
    out: Dict[Any, Any] = {}
    for t in types:
        store = data[t]
        if 'edge_index' in store:
            weight = store['edge_weight'] if 'edge_weight' in store else None
            out[t] = store.edge_index if weight is None else \
                (store.edge_index, weight)
        elif 'adj_t' in store:
            out[t] = store.adj_t.t()
        elif 'adj' in store:
            out[t] = store.adj
        else:
            raise ValueError(f"edge type {t} holds no 'edge_index', "
                             "'adj_t' or 'adj'")
    return out


def describe(graph: Any) -> str:
    r"""A short description of :obj:`graph` for error messages."""
    if isinstance(graph, Tensor):
        return f'a {graph.layout} tensor of shape {list(graph.shape)}'
    return type(graph).__name__
