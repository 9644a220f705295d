r"""Graph transforms on multi-behavior :class:`HeteroData`."""
import copy
from typing import List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rmbrec_pyg.data.hetero import edge_type, rev_edge_type
from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys


class PerturbAuxiliaryEdges(BaseTransform):
    r"""Randomly adds or removes a fraction of the *auxiliary* behavior
    edges, as in the robustness study of the RMBRec paper (§4.4, Fig. 3).

    * ``mode='remove'`` keeps a uniformly random :math:`1 - r` share of each
      auxiliary behavior's edges;
    * ``mode='add'`` adds :math:`r \cdot |E_b|` uniformly random user-item
      pairs that are not already edges of that behavior and are not
      validation/test target pairs (which would leak the answers).

    The target behavior and the held-out pairs are never touched. The
    reverse edge types are rebuilt. Seeded, so a ratio and seed always give
    the same graph.

    Args:
        ratio (float): The fraction :math:`r \in [0, 1]` (for ``'add'`` any
            :math:`r \geq 0`).
        mode (str): ``'add'`` or ``'remove'``.
        behaviors (Sequence[str], optional): The behaviors to perturb.
            (default: every auxiliary behavior)
        seed (int): Random seed. (default: :obj:`0`)
    """
    def __init__(self, ratio: float, mode: str = 'add',
                 behaviors: Optional[Sequence[str]] = None,
                 seed: int = 0) -> None:
        if mode not in ('add', 'remove'):
            raise ValueError(f"'mode' must be 'add' or 'remove' in "
                             f"'{self.__class__.__name__}' (got {mode!r})")
        if ratio < 0 or (mode == 'remove' and ratio > 1):
            raise ValueError(f"'ratio' must lie in [0, 1] for removal and be "
                             f">= 0 for addition in "
                             f"'{self.__class__.__name__}' (got {ratio})")
        self.ratio = float(ratio)
        self.mode = mode
        self.behaviors = None if behaviors is None else list(behaviors)
        self.seed = seed

    def targets(self, data: HeteroData) -> List[str]:
        aux = [b for b in data.behaviors if b != data.target]
        if self.behaviors is None:
            return aux
        bad = [b for b in self.behaviors if b not in aux]
        if bad:
            raise ValueError(f"cannot perturb {bad}: not auxiliary "
                             f'behaviors of the data (auxiliary: {aux})')
        return self.behaviors

    def forward(self, data: HeteroData) -> HeteroData:
        data = copy.copy(data)
        gen = torch.Generator().manual_seed(self.seed)
        nu, ni = int(data['user'].num_nodes), int(data['item'].num_nodes)
        store = data[edge_type(data.target)]
        held = [store[k] for k in ('val_edge_label_index',
                                   'test_edge_label_index') if k in store]
        held_keys = (torch.cat([pair_keys(h, ni) for h in held])
                     if held else torch.zeros(0, dtype=torch.long))
        for b in self.targets(data):
            index = data[edge_type(b)].edge_index
            if self.mode == 'remove':
                keep = torch.randperm(index.size(1), generator=gen)[
                    :index.size(1) - int(round(self.ratio * index.size(1)))]
                new = index[:, torch.sort(keep).values]
            else:
                new = torch.cat([index, self._random_pairs(
                    index, held_keys, nu, ni, gen)], dim=1)
            data[edge_type(b)].edge_index = new
            data[rev_edge_type(b)].edge_index = new.flip([0])
        return data

    def _random_pairs(self, index: Tensor, held_keys: Tensor, nu: int,
                      ni: int, gen: torch.Generator) -> Tensor:
        count = int(round(self.ratio * index.size(1)))
        forbidden = torch.cat([pair_keys(index, ni), held_keys])
        if count > nu * ni - torch.unique(forbidden).numel():
            raise ValueError(f'cannot add {count} new edges: the graph is '
                             f'too dense')
        out = torch.zeros(0, dtype=torch.long)
        while out.numel() < count:
            draw = torch.randint(nu * ni, (2 * (count - out.numel()) + 16, ),
                                 generator=gen)
            draw = draw[~torch.isin(draw, forbidden)]
            draw = draw[~torch.isin(draw, out)]
            # keep first occurrences, in draw order
            uniq, inv = torch.unique(draw, return_inverse=True)
            first = torch.full((uniq.numel(), ), draw.numel(),
                               dtype=torch.long).scatter_reduce_(
                                   0, inv, torch.arange(draw.numel()), 'amin')
            draw = draw[torch.sort(first).values]
            out = torch.cat([out, draw])[:count]
        return keys_to_pairs(out, ni)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratio={self.ratio}, '
                f"mode='{self.mode}', seed={self.seed})")
