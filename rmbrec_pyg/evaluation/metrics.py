r"""The metric registry: every ranking metric of the evaluation is one
function here, and everything that reports metrics (the trainer, the CSV and
JSON files, the console, ``rmbrec-report``, the benchmarks) reads their
names from :data:`METRICS`. Adding a metric is one decorated function.

A metric sees :class:`RankedLists`: the 0-based rank of every relevant
(held-out) item among all candidates of its query, and which query (a user,
or a single held-out pair) it belongs to. It returns one value per query;
the reported figure is the mean over queries. The definitions are
RecBole's (and those of :mod:`torch_geometric.metrics`): HR@K is 1 if any
relevant item is in the top K, NDCG@K divides the DCG of the top K by the
ideal DCG of :math:`\min(|\mathrm{relevant}|, K)` items, Recall@K and
Precision@K divide the hits by :math:`|\mathrm{relevant}|` and :math:`K`,
MRR@K is the reciprocal rank of the first hit.

Ties count against the relevant item: its rank is the number of *other*
candidates that score at least as high (see
:mod:`~rmbrec_pyg.evaluation.ranking`), so a model that scores every item
the same gets nothing.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor


@dataclass
class RankedLists:
    r"""The ranked lists of a set of queries, as the ranks of their relevant
    items.

    Attributes:
        rank (Tensor): :obj:`[N]` 0-based rank of every relevant item in its
            query's ranking (ranks at or beyond the largest cut-off only
            mean "outside the top K").
        query (Tensor): :obj:`[N]` the query of every relevant item, in
            :obj:`0..num_queries - 1`.
        num_relevant (Tensor): :obj:`[num_queries]` relevant items per query.
    """
    rank: Tensor
    query: Tensor
    num_relevant: Tensor

    @property
    def num_queries(self) -> int:
        return self.num_relevant.numel()

    @classmethod
    def per_pair(cls, rank: Tensor) -> 'RankedLists':
        r"""Every held-out pair is its own query."""
        return cls(rank, torch.arange(rank.numel(), device=rank.device),
                   torch.ones_like(rank))

    @classmethod
    def per_user(cls, rank: Tensor, user: Tensor) -> 'RankedLists':
        r"""Every user is a query; its relevant items are its held-out
        pairs."""
        uniq, query = torch.unique(user, return_inverse=True)
        return cls(rank, query, torch.bincount(query, minlength=uniq.numel()))

    def subset(self, mask: Tensor) -> 'RankedLists':
        r"""The lists restricted to the relevant items where :obj:`mask`;
        queries left without one drop out."""
        uniq, query = torch.unique(self.query[mask], return_inverse=True)
        return RankedLists(self.rank[mask], query,
                           torch.bincount(query, minlength=uniq.numel()))

    def _sum(self, values: Tensor) -> Tensor:
        out = torch.zeros(self.num_queries, dtype=torch.float64,
                          device=values.device)
        return out.index_add_(0, self.query, values)

    def hits(self, k: int) -> Tensor:
        r""":obj:`[num_queries]` relevant items in the top :obj:`k`."""
        return self._sum((self.rank < k).to(torch.float64))

    def dcg(self, k: int) -> Tensor:
        r""":obj:`[num_queries]` discounted cumulative gain of the top
        :obj:`k`, :math:`\sum 1/\log_2(\mathrm{rank}+2)`."""
        r = self.rank.to(torch.float64)
        gain = torch.where(r < k, 1.0 / torch.log2(r + 2.0),
                           torch.zeros_like(r))
        return self._sum(gain)


MetricFn = Callable[[RankedLists, int], Tensor]

#: Name -> function of :class:`RankedLists` and a cut-off :math:`K`,
#: returning one value per query. Reported as ``f'{name}@{K}'``.
METRICS: Dict[str, MetricFn] = {}


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    r"""Adds a metric to :data:`METRICS` under :obj:`name`."""
    def wrap(fn: MetricFn) -> MetricFn:
        METRICS[name] = fn
        return fn
    return wrap


@register_metric('HR')
def hit_ratio(lists: RankedLists, k: int) -> Tensor:
    r"""1 if any relevant item is in the top :math:`K`."""
    return (lists.hits(k) > 0).to(torch.float64)


@register_metric('NDCG')
def ndcg(lists: RankedLists, k: int) -> Tensor:
    r"""DCG of the top :math:`K` over the ideal DCG of
    :math:`\min(|\mathrm{relevant}|, K)` items."""
    n = lists.num_relevant.clamp(max=k).to(torch.float64)
    ideal = torch.cumsum(1.0 / torch.log2(torch.arange(
        k, dtype=torch.float64, device=n.device) + 2.0), 0)
    return lists.dcg(k) / ideal[(n - 1).clamp(min=0).long()]


@register_metric('Recall')
def recall(lists: RankedLists, k: int) -> Tensor:
    r"""Share of the relevant items that are in the top :math:`K`."""
    return lists.hits(k) / lists.num_relevant.to(torch.float64)


@register_metric('Precision')
def precision(lists: RankedLists, k: int) -> Tensor:
    r"""Share of the top :math:`K` that is relevant."""
    return lists.hits(k) / k


@register_metric('MRR')
def mrr(lists: RankedLists, k: int) -> Tensor:
    r"""Reciprocal rank of the first relevant item in the top :math:`K`
    (0 without one)."""
    r = lists.rank.to(torch.float64)
    rr = torch.where(r < k, 1.0 / (r + 1.0), torch.zeros_like(r))
    out = torch.zeros(lists.num_queries, dtype=torch.float64,
                      device=r.device)
    return out.scatter_reduce_(0, lists.query, rr, 'amax')


def metric_names(ks: Sequence[int],
                 metrics: Optional[Sequence[str]] = None) -> List[str]:
    r"""The reported names, ``f'{metric}@{K}'``, cut-off by cut-off."""
    return [f'{m}@{k}' for k in ks for m in (metrics or METRICS)]


def ranking_metrics(ranks: Union[Tensor, RankedLists],
                    ks: Sequence[int] = (10, 20),
                    mask: Optional[Tensor] = None,
                    metrics: Optional[Sequence[str]] = None
                    ) -> Dict[str, float]:
    r"""Every metric of :data:`METRICS` (or :obj:`metrics`) at every cut-off
    of :obj:`ks`, averaged over the queries. A plain tensor of ranks makes
    every entry its own query (the per-pair protocol); :obj:`mask` keeps
    only some relevant items (see :meth:`RankedLists.subset`)."""
    for k in ks:
        if not isinstance(k, int) or k <= 0:
            raise ValueError(f"'k' needs to be a positive integer in "
                             f"'ranking_metrics' (got {k})")
    lists = RankedLists.per_pair(ranks) if isinstance(ranks, Tensor) \
        else ranks
    if mask is not None:
        lists = lists.subset(mask)
    chosen = list(metrics or METRICS)
    names = metric_names(ks, chosen)
    if lists.num_queries == 0:
        return {name: 0.0 for name in names}
    vals = [METRICS[m](lists, k).mean() for k in ks for m in chosen]
    host = torch.stack(vals).tolist()  # one device sync
    return dict(zip(names, host))
