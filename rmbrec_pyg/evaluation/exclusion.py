r"""Per-user item lists to mask out of (or push down in) a ranking."""
from typing import Tuple

import torch
from torch import Tensor


class ExclusionIndex:
    r"""Per-user item lists in CSR form (e.g. the training target items), to
    mask out of a ranking in bulk.

    Args:
        edge_index (Tensor): :obj:`[2, E]` ``(user, item)`` pairs.
        num_users (int): Number of users.
    """
    def __init__(self, edge_index: Tensor, num_users: int) -> None:
        order = torch.argsort(edge_index[0], stable=True)
        self.order = order
        self.col = edge_index[1][order]
        self.rowptr = torch.cat([
            torch.zeros(1, dtype=torch.long, device=edge_index.device),
            torch.bincount(edge_index[0], minlength=num_users).cumsum(0)
        ])

    def to(self, device: torch.device) -> 'ExclusionIndex':
        self.col = self.col.to(device)
        self.rowptr = self.rowptr.to(device)
        return self

    def positions(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns :obj:`(row, pos)`: for every position :obj:`k` of
        :obj:`users`, one entry :obj:`(k, p)` per listed item, :obj:`p` its
        position in :attr:`col`."""
        start = self.rowptr[users]
        deg = self.rowptr[users + 1] - start
        row = torch.repeat_interleave(
            torch.arange(users.numel(), device=users.device), deg)
        first = torch.repeat_interleave(start - (deg.cumsum(0) - deg), deg)
        pos = torch.arange(row.numel(), device=users.device) + first
        return row, pos

    def gather(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns :obj:`(row, col)`: for every position :obj:`k` of
        :obj:`users`, one entry :obj:`(k, item)` per excluded item."""
        row, pos = self.positions(users)
        return row, self.col[pos]
