r"""Scoring a model on the held-out splits of a multi-behavior graph: the
ranking engine (:mod:`~rmbrec_pyg.evaluation.ranking`) gives the ranks, the
registry (:mod:`~rmbrec_pyg.evaluation.metrics`) turns them into metrics,
for all held-out pairs and for groups of them."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.hetero import edge_type
from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.evaluation.metrics import ranking_metrics
from rmbrec_pyg.evaluation.ranking import topk_ranks
from rmbrec_pyg.utils.keys import pair_keys

#: The held-out splits, by their name on the target edge type.
SPLITS = ('val', 'test')


@torch.no_grad()
def evaluate(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
             exclude: Optional[ExclusionIndex] = None,
             ks: Sequence[int] = (10, 20),
             batch_size: int = 4096) -> Dict[str, float]:
    r"""Full-ranking metrics of held-out pairs (see
    :func:`~rmbrec_pyg.evaluation.topk_ranks` and
    :func:`~rmbrec_pyg.evaluation.ranking_metrics`)."""
    label_index = label_index.to(user_emb.device)
    ranks = topk_ranks(user_emb, item_emb, {'x': label_index}, max(ks),
                       exclude, batch_size)['x']
    return ranking_metrics(ranks, ks)


def aux_evidence_mask(label_index: Tensor, aux_index: List[Tensor],
                      num_items: int) -> Tensor:
    r"""For every held-out pair, whether the same (user, item) pair appears
    in any auxiliary behavior's training edges (:obj:`True`: the purchase
    has auxiliary evidence; :obj:`False`: a direct target pair)."""
    keys = pair_keys(label_index, num_items)
    if not aux_index:
        return torch.zeros_like(keys, dtype=torch.bool)
    aux = torch.unique(torch.cat([pair_keys(i, num_items)
                                  for i in aux_index]))
    return torch.isin(keys, aux)


def group_metrics(ranks: Tensor, has_aux: Tensor,
                  ks: Sequence[int]) -> Dict[str, Any]:
    r"""Metrics for all pairs, pairs with auxiliary evidence and direct
    target pairs, with the group sizes."""
    return {'aux': ranking_metrics(ranks, ks, has_aux),
            'direct': ranking_metrics(ranks, ks, ~has_aux),
            'n_aux': int(has_aux.sum()), 'n_direct': int((~has_aux).sum())}


class Evaluator:
    r"""Scores fused user and item embeddings on the held-out splits of a
    multi-behavior :class:`~torch_geometric.data.HeteroData`: every held-out
    item ranked against all items, the user's training target items masked,
    one ranking pass for all splits.

    Args:
        data (HeteroData): The graph, with ``val_edge_label_index`` and/or
            ``test_edge_label_index`` on the target edge type.
        ks (Sequence[int]): Cut-offs. (default: :obj:`(10, 20)`)
        batch_size (int): Users ranked at once. (default: :obj:`4096`)
        precision (str): ``'fp32'``, ``'bf16'`` or ``'auto'`` (see
            :func:`~rmbrec_pyg.evaluation.topk_items`; same ranks).
            (default: :obj:`'auto'`)
        candidates (int): Candidates of the certified-miss pre-pass, or
            :obj:`0` to rank every user in full (same ranks).
            (default: :obj:`512`)
        clusters (int): User groups of the pre-pass. (default: :obj:`64`)
        device (torch.device, optional): Where the embeddings will be.
    """
    def __init__(self, data: HeteroData, ks: Sequence[int] = (10, 20),
                 batch_size: int = 4096, precision: str = 'auto',
                 candidates: int = 512, clusters: int = 64,
                 device: Optional[torch.device] = None) -> None:
        self.ks = list(ks)
        self.batch_size = batch_size
        self.precision = precision
        self.candidates = candidates
        self.clusters = clusters
        target = str(data.target)
        store = data[edge_type(target)]
        self.num_users = int(data['user'].num_nodes)
        self.num_items = int(data['item'].num_nodes)
        self.device = device or torch.device('cpu')
        self.labels = {s: store[f'{s}_edge_label_index'].to(self.device)
                       for s in SPLITS if f'{s}_edge_label_index' in store}
        self.exclude = ExclusionIndex(store.edge_index, self.num_users).to(
            self.device)
        # Groups follow the dataset's auxiliary behaviors, whatever subset
        # a model uses (target-only LightGCN included).
        self.aux_edges = [data[edge_type(b)].edge_index
                          for b in data.behaviors if b != target]
        self.has_aux = {s: aux_evidence_mask(v.cpu(), self.aux_edges,
                                             self.num_items).to(self.device)
                        for s, v in self.labels.items()}
        self._demote: Optional[ExclusionIndex] = None

    def demote_index(self) -> Optional[ExclusionIndex]:
        r"""Every user's auxiliary items, to rank after all others when a
        model demotes them (``demote_aux``); :obj:`None` without auxiliary
        behaviors."""
        if self._demote is None and self.aux_edges:
            self._demote = ExclusionIndex(torch.cat(self.aux_edges, dim=1),
                                          self.num_users).to(self.device)
        return self._demote

    @torch.no_grad()
    def __call__(self, user_emb: Tensor, item_emb: Tensor,
                 splits: Sequence[str] = SPLITS,
                 demote_aux: bool = False) -> Dict[str, Any]:
        r"""Returns the metrics of every split in :obj:`splits` and, as
        ``'<split>_groups'``, those of its pairs with auxiliary evidence and
        its direct target pairs (:func:`group_metrics`)."""
        labels = {s: self.labels[s] for s in splits if s in self.labels}
        demote = self.demote_index() if demote_aux else None
        ranks = topk_ranks(user_emb, item_emb, labels, max(self.ks),
                           self.exclude, self.batch_size, self.precision,
                           demote, self.candidates, self.clusters)
        out: Dict[str, Any] = {}
        for s, r in ranks.items():
            out[s] = ranking_metrics(r, self.ks)
            out[f'{s}_groups'] = group_metrics(r, self.has_aux[s], self.ks)
        return out
