r"""Gathering the batch's rows of every behavior tower in one autograd node,
with one scatter-add in backward (the default gather's backward is one
sorting ``index_put_`` per tower, the largest backward kernel of a GPU
step); and :func:`gather_nodes` (:func:`node_rows`), rows of the user and
item tables by homogeneous node id, for sampled neighbourhoods."""
from typing import Any, Callable, Sequence, Tuple

import torch
from torch import Tensor


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, index: Tensor, *towers: Tensor) -> Tensor:
        ctx.save_for_backward(index)
        ctx.num_rows = towers[0].size(0)
        return torch.stack([t.index_select(0, index) for t in towers], 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Any, ...]:
        (index, ) = ctx.saved_tensors
        full = grad.new_zeros((ctx.num_rows, ) + tuple(grad.shape[1:]))
        full.index_add_(0, index, grad)
        return (None, ) + tuple(full.unbind(1))


def gather_rows(towers: Sequence[Tensor], index: Tensor) -> Tensor:
    r"""``torch.stack([t[index] for t in towers], dim=1)``, :obj:`[M, B, F]`
    from :obj:`B` tensors :obj:`[N, F]`, whose backward is a single
    :meth:`~torch.Tensor.index_add_` into one :obj:`[N, B, F]` buffer.
    On CUDA that is an atomic scatter-add: faster, but the summation order of
    repeated rows (and so the last bits of their gradients) may vary from
    run to run."""
    return _GatherRows.apply(index, *towers)


def node_rows(nodes: Tensor, num_users: int,
              lookup: Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]
              ) -> Tensor:
    r"""Rows of homogeneous node ids :obj:`nodes` (users
    :obj:`0..U-1`, then items), from :obj:`lookup(user_ids, item_ids)`,
    which returns the rows of each table's own ids."""
    is_item = nodes >= num_users
    u, i = lookup(nodes[~is_item], nodes[is_item] - num_users)
    out = u.new_empty(nodes.numel(), u.size(1))
    out[~is_item], out[is_item] = u, i
    return out


def gather_nodes(users: Tensor, items: Tensor, nodes: Tensor,
                 sparse: bool = False) -> Tensor:
    r"""Rows :obj:`nodes` (users :obj:`0..U-1`, then items) of the two
    tables, without concatenating them; with :obj:`sparse`, the tables'
    gradients are sparse (only the looked-up rows)."""
    embedding = torch.nn.functional.embedding
    return node_rows(nodes, users.size(0), lambda u, i: (
        embedding(u, users, sparse=sparse),
        embedding(i, items, sparse=sparse)))
