r"""Vectorised BPR triple sampling for all behaviors at once."""
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys


class BehaviorSampler:
    r"""Draws, for a batch of users and every behavior, one positive item
    uniformly among the user's items of that behavior and one negative item
    uniformly among the items the user has under *no* behavior (as the
    authors' code does), or outside that behavior only.

    Everything is vectorised: positives through the CSR row pointers,
    negatives in bulk with a loop only over the rejected draws (as PyG's
    :func:`~torch_geometric.utils.structured_negative_sampling`).

    Args:
        edge_index_dict (Mapping[str, Tensor]): :obj:`[2, E]` ``(user,
            item)`` training pairs per behavior.
        num_users (int): Number of users.
        num_items (int): Number of items.
        negatives (str): ``'all'`` (not in any behavior) or ``'behavior'``
            (not in the same behavior). (default: :obj:`'all'`)
        generator (torch.Generator, optional): The random source; its state
            is saved in checkpoints so that a resumed run draws the same.
    """
    def __init__(self, edge_index_dict: Mapping[str, Tensor], num_users: int,
                 num_items: int, negatives: str = 'all',
                 generator: Optional[torch.Generator] = None) -> None:
        if negatives not in ('all', 'behavior'):
            raise ValueError(f"'negatives' must be 'all' or 'behavior' in "
                             f"'BehaviorSampler' (got {negatives!r})")
        self.behaviors: List[str] = list(edge_index_dict)
        self.num_users = num_users
        self.num_items = num_items
        self.negatives = negatives
        self.generator = generator or torch.Generator()
        self.rowptr: Dict[str, Tensor] = {}
        self.col: Dict[str, Tensor] = {}
        self.keys: Dict[str, Tensor] = {}
        all_keys = []
        for b, index in edge_index_dict.items():
            index = index.cpu()
            keys = torch.unique(pair_keys(index, num_items))  # sorted
            self.keys[b] = keys
            all_keys.append(keys)
            user, self.col[b] = keys_to_pairs(keys, num_items)
            self.rowptr[b] = torch.cat([
                torch.zeros(1, dtype=torch.long),
                torch.bincount(user, minlength=num_users).cumsum(0)
            ])
        self.all_keys = torch.unique(torch.cat(all_keys))

    def _contains(self, keys: Tensor, query: Tensor) -> Tensor:
        pos = torch.searchsorted(keys, query).clamp(max=keys.numel() - 1)
        return keys[pos] == query

    def sample(self, users: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Samples triples for :obj:`users` (a CPU :obj:`[N]` tensor).

        Returns:
            :obj:`(pos, neg, mask)`, each of shape :obj:`[N, B]` for
            :obj:`B` behaviors: positive and negative item ids and whether
            the user has any item under that behavior (where not, the ids
            are 0 and the row must be masked or treated as filler).
        """
        users = users.cpu()
        n = users.numel()
        g = self.generator
        pos_cols, neg_cols, masks = [], [], []
        for b in self.behaviors:
            rowptr = self.rowptr[b]
            start = rowptr[users]
            deg = rowptr[users + 1] - start
            has = deg > 0
            offset = (torch.rand(n, generator=g) * deg).long()
            idx = (start + offset).clamp(max=max(self.col[b].numel() - 1, 0))
            pos = torch.where(has, self.col[b][idx] if self.col[b].numel()
                              else torch.zeros_like(idx), 0)
            keys = self.all_keys if self.negatives == 'all' else self.keys[b]
            neg = torch.randint(self.num_items, (n, ), generator=g)
            bad = self._contains(keys, pair_keys((users, neg), self.num_items))
            rest = bad.nonzero().view(-1)
            tries = 0
            while rest.numel() > 0 and tries < 100:
                draw = torch.randint(self.num_items, (rest.numel(), ),
                                     generator=g)
                neg[rest] = draw
                still = self._contains(
                    keys, pair_keys((users[rest], draw), self.num_items))
                rest = rest[still]
                tries += 1
            pos_cols.append(pos)
            neg_cols.append(torch.where(has, neg, 0))
            masks.append(has)
        return (torch.stack(pos_cols, 1), torch.stack(neg_cols, 1),
                torch.stack(masks, 1))
