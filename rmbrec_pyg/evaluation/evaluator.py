r"""Scoring a model on the held-out splits of a multi-behavior graph: the
ranking engine (:mod:`~rmbrec_pyg.evaluation.ranking`, or
:mod:`~rmbrec_pyg.evaluation.sampled` for sampled negatives) gives the
ranks, the protocol groups them into ranked lists (per user or per pair),
and the registry (:mod:`~rmbrec_pyg.evaluation.metrics`) turns them into
metrics, for all held-out pairs and for groups of them."""
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.hetero import edge_type
from rmbrec_pyg.evaluation.bonus import ScoreBonus
from rmbrec_pyg.evaluation.config import EvalConfig, parse_negatives
from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.evaluation.metrics import RankedLists, ranking_metrics
from rmbrec_pyg.evaluation.ranking import topk_ranks
from rmbrec_pyg.evaluation.refind import Refind
from rmbrec_pyg.evaluation.sampled import draw_negatives, sampled_ranks
from rmbrec_pyg.utils.keys import pair_keys

#: The held-out splits, by their name on the target edge type.
SPLITS = ('val', 'test')
#: Groups of held-out pairs reported beside all pairs.
GROUPS = ('aux', 'direct', 'cold')


@torch.no_grad()
def evaluate(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
             exclude: Optional[ExclusionIndex] = None,
             ks: Sequence[int] = (10, 20), batch_size: int = 4096,
             protocol: str = 'user') -> Dict[str, float]:
    r"""Full-ranking metrics of held-out pairs (see
    :func:`~rmbrec_pyg.evaluation.topk_ranks`), per user or per pair."""
    label_index = label_index.to(user_emb.device)
    ranks = topk_ranks(user_emb, item_emb, {'x': label_index}, max(ks),
                       exclude, batch_size)['x']
    return ranking_metrics(ranked_lists(ranks, label_index, protocol), ks)


def ranked_lists(ranks: Tensor, label_index: Tensor,
                 protocol: str) -> RankedLists:
    r"""The ranks of held-out pairs as the ranked lists of a protocol: one
    per user (``'user'``) or one per pair (``'pair'``)."""
    if protocol == 'user':
        return RankedLists.per_user(ranks, label_index[0])
    return RankedLists.per_pair(ranks)


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


def group_metrics(lists: RankedLists, masks: Dict[str, Tensor],
                  ks: Sequence[int],
                  metrics: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    r"""Metrics of the held-out pairs of every group (a mask over the pairs
    of :obj:`lists`), with ``n_<group>``: how many lists (users or pairs)
    each averages over. Per user, a group's lists keep the group's pairs
    only. A group without any list has ``n_<group>`` 0 and no metrics (not
    zeros that would read as a score)."""
    out: Dict[str, Any] = {}
    for name, mask in masks.items():
        sub = lists.subset(mask)
        if sub.num_queries:
            out[name] = ranking_metrics(sub, ks, metrics=metrics)
        out[f'n_{name}'] = sub.num_queries
    return out


class Evaluator:
    r"""Scores fused user and item embeddings on the held-out splits of a
    multi-behavior :class:`~torch_geometric.data.HeteroData`.

    Every held-out item is ranked against all items (or, with
    ``config.negatives``, against sampled negatives), the user's training
    target items masked and its other held-out items left in, one ranking
    pass for all splits. The metrics are averaged per user or per pair
    (``config.protocol``) and reported for all pairs and for three groups:
    ``aux`` (pairs with auxiliary evidence), ``direct`` (without) and
    ``cold`` (users without any training edge).

    Args:
        data (HeteroData): The graph, with ``val_edge_label_index`` and/or
            ``test_edge_label_index`` on the target edge type.
        config (EvalConfig, optional): The protocol and its settings.
        device (torch.device, optional): Where the embeddings will be.
        required (Sequence[str]): Splits that must be present (e.g.
            ``('val',)`` to select a model on). (default: none)
    """
    def __init__(self, data: HeteroData, config: Optional[EvalConfig] = None,
                 device: Optional[torch.device] = None,
                 required: Sequence[str] = ()) -> None:
        self.config = config or EvalConfig()
        self.config.validate()
        self.device = device or torch.device('cpu')
        self.candidates = self.config.resolve_candidates(self.device)
        target = str(data.target)
        store = data[edge_type(target)]
        self.num_users = int(data['user'].num_nodes)
        self.num_items = int(data['item'].num_nodes)
        labels = {s: store[f'{s}_edge_label_index']
                  for s in SPLITS if f'{s}_edge_label_index' in store}
        missing = [s for s in required if s not in labels]
        if missing:
            raise ConfigError(f"the data has no {' or '.join(missing)} "
                              f'pairs ({missing[0]}_edge_label_index of the '
                              f"target '{target}'): nothing to select a "
                              'model on')
        self.labels = {s: v.to(self.device) for s, v in labels.items()}
        self.train_target = store.edge_index
        self.exclude = ExclusionIndex(store.edge_index, self.num_users).to(
            self.device)
        self._known: Optional[ExclusionIndex] = None  # rmbrec-recommend's
        # Groups follow the dataset's behaviors, whatever subset a model
        # uses (target-only LightGCN included).
        self.aux_edges = [data[edge_type(b)].edge_index
                          for b in data.behaviors if b != target]
        degree = torch.zeros(self.num_users, dtype=torch.long)
        for b in data.behaviors:
            degree += torch.bincount(data[edge_type(b)].edge_index[0],
                                     minlength=self.num_users)
        self.groups: Dict[str, Dict[str, Tensor]] = {}
        for s, v in labels.items():
            aux = aux_evidence_mask(v, self.aux_edges, self.num_items)
            self.groups[s] = {'aux': aux.to(self.device),
                              'direct': (~aux).to(self.device),
                              'cold': (degree[v[0]] == 0).to(self.device)}
        self._demote: Optional[ExclusionIndex] = None
        self._negatives: Dict[str, Tensor] = {}
        self._data = data
        self._bonus: Dict[str, ScoreBonus] = {}
        self._groups: Dict[float, Tensor] = {}

    @property
    def label(self) -> str:
        return self.config.label

    def demote_index(self, users: Optional[Tensor] = None
                     ) -> Optional[ExclusionIndex]:
        r"""Every user's auxiliary items (or only those of the users where
        the :obj:`[U]` mask :obj:`users` is set), to rank after all others
        when a model demotes them (``demote_aux``); :obj:`None` without
        auxiliary behaviors."""
        if not self.aux_edges:
            return None
        if users is not None:
            edges = torch.cat(self.aux_edges, dim=1)
            edges = edges[:, users.cpu()[edges[0]]]
            return ExclusionIndex(edges, self.num_users).to(self.device)
        if self._demote is None:
            self._demote = ExclusionIndex(torch.cat(self.aux_edges, dim=1),
                                          self.num_users).to(self.device)
        return self._demote

    def user_groups(self, threshold: float) -> Tensor:
        r""":obj:`[U]` the user groups of a re-finding boost (see
        :func:`~rmbrec_pyg.evaluation.refind.user_groups`), computed once
        per threshold."""
        if threshold not in self._groups:
            from rmbrec_pyg.evaluation.refind import user_groups
            self._groups[threshold] = user_groups(self._data, threshold)
        return self._groups[threshold]

    def known_purchases(self) -> ExclusionIndex:
        r"""Every target pair the data holds, training, validation and test
        (what a production export leaves out; :attr:`exclude` holds the
        training pairs only, as the evaluation masks them). Built on first
        use: only a production export needs it."""
        if self._known is None:
            self._known = ExclusionIndex(torch.cat(
                [self.train_target.to(self.device), *self.labels.values()],
                dim=1), self.num_users).to(self.device)
        return self._known

    def bonus(self, refind: Optional[Refind]) -> Optional[ScoreBonus]:
        r"""The :class:`~rmbrec_pyg.evaluation.bonus.ScoreBonus` of a
        re-finding boost on this data (:obj:`None` for none, or one that
        adds nothing), built once per boost."""
        if refind is None or not refind.active:
            return None
        key = repr((refind.behaviors, refind.values, refind.threshold,
                    refind.reduce))
        if key not in self._bonus:
            if len(self._bonus) > 64:
                self._bonus.clear()
            self._bonus[key] = refind.index(
                self._data, self.device, self.user_groups(refind.threshold))
        return self._bonus[key]

    def negatives(self, split: str) -> Tensor:
        r"""The sampled negatives of a split's pairs, drawn once (seeded
        with ``config.seed`` and the split)."""
        if split not in self._negatives:
            kind, count = parse_negatives(str(self.config.negatives))
            labels = self.labels[split].cpu()
            weights = None if kind == 'uniform' else torch.bincount(
                self.train_target[1], minlength=self.num_items)
            self._negatives[split] = draw_negatives(
                labels, self.num_items, count,
                ExclusionIndex(self.train_target, self.num_users),
                ExclusionIndex(labels, self.num_users), weights,
                self.config.seed + SPLITS.index(split)).to(self.device)
        return self._negatives[split]

    def ranks(self, user_emb: Tensor, item_emb: Tensor,
              splits: Sequence[str] = SPLITS,
              demote_aux: Union[bool, Tensor] = False,
              bonus: Optional[ScoreBonus] = None) -> Dict[str, Tensor]:
        r"""The rank of every held-out pair of :obj:`splits` (resolved up
        to the largest cut-off under full ranking). :obj:`demote_aux` ranks
        the auxiliary items of every user (:obj:`True`) or of the users of a
        :obj:`[U]` mask after all others; :obj:`bonus` (see :meth:`bonus`)
        adds its values to the scores of its pairs instead."""
        cfg = self.config
        labels = {s: self.labels[s] for s in splits if s in self.labels}
        demote: Optional[ExclusionIndex] = None
        if isinstance(demote_aux, Tensor):
            demote = self.demote_index(demote_aux)
        elif demote_aux:
            demote = self.demote_index()
        if bonus is not None:
            if demote is not None:
                raise ValueError('a score bonus replaces demote_aux: give '
                                 'one or the other')
            demote = bonus
        if cfg.negatives is not None:
            if bonus is not None:
                raise ConfigError("'eval.negatives' (sampled ranking) "
                                  "cannot apply the model's re-finding "
                                  'boost; use full ranking')
            return {s: sampled_ranks(user_emb, item_emb, v,
                                     self.negatives(s),
                                     cfg.protocol == 'user')
                    for s, v in labels.items()}
        return topk_ranks(user_emb, item_emb, labels, max(cfg.ks),
                          self.exclude, cfg.batch_size, cfg.precision,
                          demote, self.candidates, cfg.clusters)

    @torch.no_grad()
    def __call__(self, user_emb: Tensor, item_emb: Tensor,
                 splits: Sequence[str] = SPLITS,
                 demote_aux: Union[bool, Tensor] = False,
                 bonus: Optional[ScoreBonus] = None) -> Dict[str, Any]:
        r"""Returns the metrics of every split in :obj:`splits` and, as
        ``'<split>_groups'``, those of its groups (:func:`group_metrics`).
        """
        cfg = self.config
        out: Dict[str, Any] = {}
        for s, r in self.ranks(user_emb, item_emb, splits, demote_aux,
                               bonus).items():
            lists = ranked_lists(r, self.labels[s], cfg.protocol)
            out[s] = ranking_metrics(lists, cfg.ks, metrics=cfg.metrics)
            out[f'{s}_groups'] = group_metrics(lists, self.groups[s], cfg.ks,
                                               cfg.metrics)
        return out
