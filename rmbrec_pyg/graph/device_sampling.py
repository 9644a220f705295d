r"""BPR triple sampling that stays on the device: no host work and no
device-to-host sync per batch, so that a training step can be captured as a
CUDA graph."""
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys


def _csr(keys: Tensor, num_users: int, num_items: int
         ) -> Tuple[Tensor, Tensor]:
    # Sorted unique pair keys -> (rowptr [U + 1], item column).
    user, col = keys_to_pairs(keys, num_items)
    rowptr = torch.zeros(num_users + 1, dtype=torch.long, device=keys.device)
    rowptr[1:] = torch.bincount(user, minlength=num_users).cumsum(0)
    return rowptr, col


class DeviceBehaviorSampler:
    r"""Draws the same triples as :class:`~rmbrec_pyg.graph.BehaviorSampler`
    (one positive per user and behavior, uniform among the user's items of
    that behavior; one negative, uniform among the items the user has under
    no behavior, or not under that behavior), exactly, without rejection
    and without leaving the device.

    A negative is drawn by inversion: with the user's :math:`d` excluded
    items sorted, :math:`p_0 < \dots < p_{d-1}`, the :math:`r`-th allowed
    item (:math:`r` uniform in :math:`[0, I - d)`) is
    :math:`r + |\{j : p_j - j \le r\}|`, one :func:`torch.searchsorted` over
    all users' excluded items at once. Every call is a fixed sequence of
    kernels on tensors of fixed shapes.

    Args:
        edge_index_dict (Mapping[str, Tensor]): :obj:`[2, E]` ``(user,
            item)`` training pairs per behavior.
        num_users (int): Number of users.
        num_items (int): Number of items.
        negatives (str): ``'all'`` or ``'behavior'``. (default: :obj:`'all'`)
        device (torch.device, optional): Where the tensors live and the
            draws happen. (default: CPU)
        generator (torch.Generator, optional): The random source; default:
            the device's default generator (the one a CUDA graph captures).
    """
    def __init__(self, edge_index_dict: Mapping[str, Tensor], num_users: int,
                 num_items: int, negatives: str = 'all',
                 device: Optional[torch.device] = None,
                 generator: Optional[torch.Generator] = None) -> None:
        if negatives not in ('all', 'behavior'):
            raise ValueError(f"'negatives' must be 'all' or 'behavior' in "
                             f"'{self.__class__.__name__}' (got "
                             f'{negatives!r})')
        device = torch.device(device or 'cpu')
        self.behaviors: List[str] = list(edge_index_dict)
        self.num_users, self.num_items = num_users, num_items
        self.negatives = negatives
        self.generator = generator
        self.pos: Dict[str, Tuple[Tensor, Tensor]] = {}
        self.neg: Dict[str, Tuple[Tensor, Tensor]] = {}
        keys = {b: torch.unique(pair_keys(index.to(device), num_items))
                for b, index in edge_index_dict.items()}
        every = torch.unique(torch.cat(list(keys.values())))
        for b in self.behaviors:
            self.pos[b] = _csr(keys[b], num_users, num_items)
            excl = every if negatives == 'all' else keys[b]
            rowptr, col = _csr(excl, num_users, num_items)
            # Global, sorted search keys: user * (I + 1) + (p_j - j).
            user = torch.repeat_interleave(
                torch.arange(num_users, device=device), rowptr.diff())
            rank = torch.arange(col.numel(), device=device) - rowptr[user]
            self.neg[b] = (rowptr, user * (num_items + 1) + col - rank)

    def _rand(self, n: int, device: torch.device) -> Tensor:
        return torch.rand(n, device=device, generator=self.generator)

    def sample(self, users: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Samples triples for :obj:`users` (on the sampler's device).

        Returns:
            :obj:`(pos, neg, mask)`, each :obj:`[N, B]`, as
            :meth:`BehaviorSampler.sample` (where a user has no item of a
            behavior, its ids are 0 and :obj:`mask` is :obj:`False`).
        """
        n, ni, dev = users.numel(), self.num_items, users.device
        pos_cols, neg_cols, masks = [], [], []
        for b in self.behaviors:
            rowptr, col = self.pos[b]
            start = rowptr[users]
            deg = rowptr[users + 1] - start
            has = deg > 0
            offset = (self._rand(n, dev) * deg).long()
            idx = (start + offset).clamp(max=max(col.numel() - 1, 0))
            pos = torch.where(has, col[idx], 0) if col.numel() else \
                torch.zeros_like(users)
            nptr, search = self.neg[b]
            excluded = nptr[users + 1] - nptr[users]
            allowed = (ni - excluded).clamp(min=1)
            r = (self._rand(n, dev) * allowed).long().clamp(max=ni - 1)
            below = torch.searchsorted(search, users * (ni + 1) + r,
                                       right=True) - nptr[users]
            neg = (r + below).clamp(max=ni - 1)
            pos_cols.append(pos)
            neg_cols.append(torch.where(has, neg, 0))
            masks.append(has)
        return (torch.stack(pos_cols, 1), torch.stack(neg_cols, 1),
                torch.stack(masks, 1))
