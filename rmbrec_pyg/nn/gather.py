r"""Gathering the batch's rows of every behavior tower in one autograd node,
with one scatter-add in backward (the default gather's backward is one
sorting ``index_put_`` per tower, the largest backward kernel of a GPU
step); and :func:`gather_nodes`, rows of the user and item tables by
homogeneous node id, for sampled neighbourhoods."""
from typing import Any, Sequence, Tuple

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


def gather_nodes(users: Tensor, items: Tensor, nodes: Tensor) -> Tensor:
    r"""Rows :obj:`nodes` (users :obj:`0..U-1`, then items) of the two
    tables, without concatenating them."""
    is_item = nodes >= users.size(0)
    out = users.new_empty(nodes.numel(), users.size(1))
    out[~is_item] = torch.nn.functional.embedding(nodes[~is_item], users)
    out[is_item] = torch.nn.functional.embedding(
        nodes[is_item] - users.size(0), items)
    return out
