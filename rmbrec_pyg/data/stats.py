r"""Behavioral Alignment Ratio (BAR) and Direct Target (DT) ratio
(paper Eq. 11 and Table 1)."""
from dataclasses import dataclass, field
from typing import Dict

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.hetero import behaviors_of, edge_type, target_of


@dataclass
class BehaviorStats:
    r"""Summary statistics of a multi-behavior dataset."""
    num_users: int
    num_items: int
    target: str
    edges: Dict[str, int]
    heldout: Dict[str, int]
    bar: Dict[str, float] = field(default_factory=dict)
    dt: float = 0.0

    def format(self) -> str:
        lines = [f'users {self.num_users:,}   items {self.num_items:,}   '
                 f"target '{self.target}'", 'edges per behavior:']
        for b, n in self.edges.items():
            lines.append(f'  {b:<12} {n:>12,}')
        for name, n in self.heldout.items():
            lines.append(f'  {name:<12} {n:>12,}  (held-out target pairs)')
        lines.append('alignment with the target (all target pairs, '
                     'train + validation + test):')
        for b, v in self.bar.items():
            lines.append(f'  BAR({b}) = {v:.4f}')
        lines.append(f'  DT = {self.dt:.4f}')
        return '\n'.join(lines)


def all_target_pairs(data: HeteroData) -> Tensor:
    r"""All target pairs (training, validation and test) as unique keys
    :obj:`user * num_items + item`."""
    store = data[edge_type(target_of(data))]
    parts = [store.edge_index]
    for name in ('val_edge_label_index', 'test_edge_label_index'):
        if name in store:
            parts.append(store[name])
    index = torch.cat(parts, dim=1)
    return torch.unique(index[0] * data['item'].num_nodes + index[1])


def behavior_alignment(data: HeteroData) -> Dict[str, Tensor]:
    r"""For each auxiliary behavior :math:`b`, a boolean mask over
    :func:`all_target_pairs` that says which target pairs are also seen
    under :math:`b`."""
    target = target_of(data)
    keys = all_target_pairs(data)
    num_items = data['item'].num_nodes
    out = {}
    for b in behaviors_of(data):
        if b == target:
            continue
        index = data[edge_type(b)].edge_index
        out[b] = torch.isin(keys, index[0] * num_items + index[1])
    return out


def compute_stats(data: HeteroData) -> BehaviorStats:
    r"""Computes users, items, edges per behavior, BAR per auxiliary
    behavior and DT:

    .. math::
        \mathrm{BAR}(b) = \frac{|R_b \cap R_{target}|}{|R_{target}|},
        \qquad \mathrm{DT} = \frac{|R_{target} \setminus \bigcup_{b}
        R_b|}{|R_{target}|}.
    """
    target = target_of(data)
    store = data[edge_type(target)]
    masks = behavior_alignment(data)
    num_target = int(all_target_pairs(data).numel())
    bar = {b: float(m.float().mean()) if num_target else 0.0
           for b, m in masks.items()}
    if masks:
        any_aux = torch.stack(list(masks.values())).any(0)
        dt = float((~any_aux).float().mean()) if num_target else 0.0
    else:
        dt = 1.0
    heldout = {}
    for name, key in (('validation', 'val_edge_label_index'),
                      ('test', 'test_edge_label_index')):
        if key in store:
            heldout[name] = int(store[key].size(1))
    return BehaviorStats(
        num_users=int(data['user'].num_nodes),
        num_items=int(data['item'].num_nodes), target=target,
        edges={b: int(data[edge_type(b)].edge_index.size(1))
               for b in behaviors_of(data)},
        heldout=heldout, bar=bar, dt=dt)


