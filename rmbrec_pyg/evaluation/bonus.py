r"""Per-user score bonuses: values added to chosen ``(user, item)`` scores
before ranking, e.g. to put a user's unbought cart items first
(:class:`~rmbrec_pyg.evaluation.refind.Refind`)."""
from typing import Tuple

import torch
from torch import Tensor

from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys


class ScoreBonus(ExclusionIndex):
    r"""Per-user item lists with one value per entry, added to the scores
    of those pairs by the ranking engine (:func:`~rmbrec_pyg.evaluation.
    topk_items`). Pairs repeated in :obj:`edge_index` are merged first,
    their values summed (:obj:`reduce='sum'`) or the largest kept
    (:obj:`'max'`); pairs whose value is then 0 are dropped.

    Args:
        edge_index (Tensor): :obj:`[2, E]` ``(user, item)`` pairs.
        value (Tensor): :obj:`[E]` the bonus of every pair.
        num_users (int): Number of users.
        num_items (int): Number of items.
        reduce (str): ``'sum'`` or ``'max'``. (default: :obj:`'sum'`)
    """
    def __init__(self, edge_index: Tensor, value: Tensor, num_users: int,
                 num_items: int, reduce: str = 'sum') -> None:
        if reduce not in ('sum', 'max'):
            raise ValueError(f"'reduce' must be 'sum' or 'max' in "
                             f"'ScoreBonus' (got {reduce!r})")
        keys, inverse = torch.unique(pair_keys(edge_index, num_items),
                                     return_inverse=True)
        merged = torch.zeros(keys.numel(), dtype=torch.float,
                             device=value.device)
        if reduce == 'sum':
            merged.index_add_(0, inverse, value.float())
        else:
            merged.fill_(-float('inf')).scatter_reduce_(
                0, inverse, value.float(), 'amax')
        keep = merged != 0
        keys, merged = keys[keep], merged[keep]
        super().__init__(keys_to_pairs(keys, num_items), num_users)
        self.val = merged[self.order]

    def to(self, device: torch.device) -> 'ScoreBonus':
        super().to(device)
        self.val = self.val.to(device)
        return self

    @property
    def num_pairs(self) -> int:
        return self.col.numel()

    def gather_values(self, users: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Returns :obj:`(row, col, value)` for the users of
        :obj:`users` (see :meth:`ExclusionIndex.gather`)."""
        row, pos = self.positions(users)
        return row, self.col[pos], self.val[pos]
