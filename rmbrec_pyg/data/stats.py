r"""Behavioral Alignment Ratio (BAR) and Direct Target (DT) ratio
(paper Eq. 11 and Table 1)."""
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.hetero import behaviors_of, edge_type, target_of
from rmbrec_pyg.utils.keys import pair_keys


@dataclass
class BehaviorStats:
    r"""Summary statistics of a multi-behavior dataset."""
    num_users: int
    num_items: int
    target: str
    edges: Dict[str, int]
    heldout: Dict[str, Dict[str, int]]
    bar: Dict[str, float] = field(default_factory=dict)
    dt: float = 0.0

    def format(self) -> str:
        lines = [f'users {self.num_users:,}   items {self.num_items:,}   '
                 f"target '{self.target}'", 'edges per behavior:']
        for b, n in self.edges.items():
            lines.append(f'  {b:<12} {n:>12,}')
        for name, h in self.heldout.items():
            lines.append(f"  {name:<12} {h['pairs']:>12,}  (held-out target "
                         f"pairs of {h['users']:,} users: {h['aux']:,} with "
                         f"auxiliary evidence, {h['direct']:,} direct; "
                         f"{h['cold_users']:,} users without any training "
                         'edge)')
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
    return torch.unique(pair_keys(index, int(data['item'].num_nodes)))


def _seen_under(data: HeteroData, keys: Tensor,
                behaviors: Sequence[str]) -> Dict[str, Tensor]:
    # For every auxiliary behavior, which of the target pair keys it holds.
    num_items = int(data['item'].num_nodes)
    target = target_of(data)
    return {b: torch.isin(keys, pair_keys(data[edge_type(b)].edge_index,
                                          num_items))
            for b in behaviors if b != target}


def behavior_alignment(data: HeteroData) -> Dict[str, Tensor]:
    r"""For each auxiliary behavior :math:`b`, a boolean mask over
    :func:`all_target_pairs` that says which target pairs are also seen
    under :math:`b`."""
    return _seen_under(data, all_target_pairs(data), behaviors_of(data))


def training_bar(data: HeteroData,
                 behaviors: Optional[Sequence[str]] = None
                 ) -> Dict[str, float]:
    r"""The BAR of every behavior on the *training* target pairs only (the
    target itself counts 1), in the order of :obj:`behaviors` (default: the
    data's). What a model may use without looking at held-out pairs."""
    behaviors = list(behaviors or behaviors_of(data))
    index = data[edge_type(target_of(data))].edge_index
    keys = pair_keys(index, int(data['item'].num_nodes))
    seen = _seen_under(data, keys, behaviors)
    return {b: 1.0 if b not in seen else
            (float(seen[b].float().mean()) if keys.numel() else 0.0)
            for b in behaviors}


def compute_stats(data: HeteroData) -> BehaviorStats:
    r"""Computes users, items, edges per behavior, BAR per auxiliary
    behavior and DT:

    .. math::
        \mathrm{BAR}(b) = \frac{|R_b \cap R_{target}|}{|R_{target}|},
        \qquad \mathrm{DT} = \frac{|R_{target} \setminus \bigcup_{b}
        R_b|}{|R_{target}|}.
    """
    target = target_of(data)
    masks = behavior_alignment(data)
    num_target = int(all_target_pairs(data).numel())
    bar = {b: float(m.float().mean()) if num_target else 0.0
           for b, m in masks.items()}
    if masks:
        any_aux = torch.stack(list(masks.values())).any(0)
        dt = float((~any_aux).float().mean()) if num_target else 0.0
    else:
        dt = 1.0
    heldout = heldout_summary(data)
    return BehaviorStats(
        num_users=int(data['user'].num_nodes),
        num_items=int(data['item'].num_nodes), target=target,
        edges={b: int(data[edge_type(b)].edge_index.size(1))
               for b in behaviors_of(data)},
        heldout=heldout, bar=bar, dt=dt)




def heldout_summary(data: HeteroData) -> Dict[str, Dict[str, int]]:
    r"""Per held-out split: its pairs and users, the users without any
    training edge (``cold``), and the pairs with and without auxiliary
    evidence (``aux``: the pair also sits in an auxiliary behavior, as a
    purchase that was carted first; ``direct``: it does not)."""
    target = target_of(data)
    store = data[edge_type(target)]
    num_users = int(data['user'].num_nodes)
    num_items = int(data['item'].num_nodes)
    degree = torch.zeros(num_users, dtype=torch.long)
    aux_keys = []
    for b in behaviors_of(data):
        index = data[edge_type(b)].edge_index
        degree += torch.bincount(index[0], minlength=num_users)
        if b != target:
            aux_keys.append(pair_keys(index, num_items))
    aux = torch.cat(aux_keys) if aux_keys else torch.zeros(0, dtype=torch.long)
    out = {}
    for name, key in (('validation', 'val_edge_label_index'),
                      ('test', 'test_edge_label_index')):
        if key not in store:
            continue
        index = store[key]
        users = torch.unique(index[0])
        has_aux = torch.isin(pair_keys(index, num_items), aux)
        out[name] = {'pairs': int(index.size(1)), 'users': int(users.numel()),
                     'cold_users': int((degree[users] == 0).sum()),
                     'aux': int(has_aux.sum()),
                     'direct': int((~has_aux).sum())}
    return out


def user_training_bar(data: HeteroData) -> Tuple[Tensor, Tensor]:
    r"""Per user, the share of their *training* target pairs that an
    auxiliary behavior also holds (how much their purchases follow a view
    or a cart), and whether they have a training target pair at all
    (:obj:`([U], [U])`; the share is 0 without one)."""
    target = target_of(data)
    num_users = int(data['user'].num_nodes)
    index = data[edge_type(target)].edge_index
    keys = pair_keys(index, int(data['item'].num_nodes))
    seen = _seen_under(data, keys, behaviors_of(data))
    covered = (torch.stack(list(seen.values())).any(0) if seen else
               torch.zeros_like(keys, dtype=torch.bool))
    count = torch.bincount(index[0], minlength=num_users)
    hits = torch.bincount(index[0], weights=covered.double(),
                          minlength=num_users)
    return (hits / count.clamp(min=1)).float(), count > 0
