r"""The re-finding boost's search (:class:`RefindSearch`, see
:class:`~rmbrec_pyg.evaluation.refind.Refind`) and the per-group
validation scores that it and the floor's blend search share
(:func:`group_scores`)."""
import logging
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.evaluation import ranked_lists, ranking_metrics
from rmbrec_pyg.evaluation.refind import GROUP_NAMES, Refind

log = logging.getLogger('rmbrec_pyg')


def group_scores(trainer: Any, group: Tensor, demote: Any = False,
                 refind: Optional[Refind] = None) -> Dict[Any, float]:
    r"""The monitored validation metric of the trainer's current model,
    for all users (``'all'``) and for each group of the :obj:`[U]`
    :obj:`group` (0 and 1), from one ranking pass (ranking auxiliary items
    last with :obj:`demote`, or with the boost :obj:`refind`)."""
    ev, monitor = trainer.evaluator, trainer.config.monitor
    metric, k = monitor.split('@')
    labels = ev.labels['val']
    pair_group = group.to(labels.device)[labels[0]]
    lists = ranked_lists(ev.ranks(*trainer.embeddings(), ('val', ), demote,
                                  ev.bonus(refind))['val'], labels,
                         ev.config.protocol)
    out: Dict[Any, float] = {
        g: ranking_metrics(lists, [int(k)], pair_group == g,
                           [metric])[monitor] for g in (0, 1)}
    out['all'] = ranking_metrics(lists, [int(k)], None, [metric])[monitor]
    return out


def score_scale(user_emb: Tensor, item_emb: Tensor, users: Tensor,
                sample: int = 1024) -> Tuple[float, float]:
    r"""Two scales of a model's scores: the spread (the mean over up to
    :obj:`sample` of :obj:`users` of the standard deviation of their scores
    over all items) and a value larger than any difference of two scores
    of one user (:math:`2 \max_u \|\mathbf{z}_u\| \max_i
    \|\mathbf{z}_i\| + 1`), which puts what it is added to first."""
    users = torch.unique(users)[:sample]
    spread = float((user_emb[users] @ item_emb.t()).std(dim=1).mean())
    first = 2.0 * float(user_emb.norm(dim=-1).max()) * float(
        item_emb.norm(dim=-1).max()) + 1.0
    return spread, first


class RefindSearch:
    r"""Chooses the re-finding boost (:class:`~rmbrec_pyg.evaluation.refind.
    Refind`) of the selected model on validation: for every auxiliary
    behavior of the data in turn (:obj:`config.rounds` passes, the other
    behaviors fixed), and per group of users, the value added to the scores
    of the user's unbought items of that behavior, among 0, the
    :obj:`config.multipliers` of the model's score spread, "always first"
    and "always last" (:func:`score_scale`). Ties keep the smaller change,
    so a behavior that does not help stays off. It replaces the other
    searches' choice of ranking auxiliary items last, which it includes.
    With a target floor, the floor's blend is then chosen again under the
    boost: the boosted items come first, and the blend orders the rest.

    Args:
        config (RerankConfig): The search's settings.
        betas (List[float], optional): The floor's blends, to choose again.
    """
    def __init__(self, config: Any,
                 betas: Optional[List[float]] = None) -> None:
        self.config = config
        self.betas = list(betas or [])

    def grid(self, spread: float, first: float) -> List[Tuple[Any, float]]:
        r"""The candidate values, as (label, value), smallest change
        first."""
        out: List[Tuple[Any, float]] = [(0.0, 0.0)]
        out += [(float(m), float(m) * spread)
                for m in sorted(self.config.multipliers)]
        if self.config.first:
            out.append(('first', first))
        if self.config.demote:
            out.append(('last', -first))
        return out

    def __call__(self, trainer: Any) -> Optional[Dict[str, Any]]:
        data, cfg = trainer.data, self.config
        target = str(data.target)
        behaviors = [b for b in data.behaviors if b != target]
        if not behaviors:
            return None
        trainer.refind = None
        blend = getattr(trainer.encoder, 'blend', None)
        if blend is not None:
            blend.demote.fill_(False)
        ev = trainer.evaluator
        group = ev.user_groups(cfg.threshold) if cfg.per_group else \
            torch.zeros(ev.num_users, dtype=torch.long)
        zu, zi = trainer.embeddings()
        spread, first = score_scale(zu, zi, ev.labels['val'][0])
        grid = self.grid(spread, first)
        values = [[0.0] * len(behaviors) for _ in range(2)]
        labels: List[List[Any]] = [[0.0] * len(behaviors) for _ in range(2)]

        def boost() -> Refind:
            return Refind(behaviors, [list(v) for v in values],
                          cfg.threshold, 'sum')

        for _ in range(cfg.rounds if len(behaviors) > 1 else 1):
            for j in range(len(behaviors)):
                best: Dict[int, Tuple[float, Any, float]] = {}
                for label, v in grid:
                    for g in (0, 1):
                        values[g][j] = v
                    scores = group_scores(trainer, group, refind=boost())
                    for g in (0, 1):
                        if g not in best or scores[g] > best[g][0]:
                            best[g] = (scores[g], label, v)
                for g in (0, 1):
                    values[g][j], labels[g][j] = best[g][2], best[g][1]
        chosen: Dict[str, Any] = {
            'spread': spread, 'first': first,
            'multipliers': {GROUP_NAMES[g]: dict(zip(behaviors, labels[g]))
                            for g in (0, 1)},
            'users': torch.bincount(group, minlength=2).tolist()}
        if not cfg.per_group:
            values[1], labels[1] = values[0], labels[0]
        refind = Refind(behaviors, values, cfg.threshold, 'sum', chosen)
        trainer.refind = refind
        out: Dict[str, Any] = {'demote_aux': False}
        if blend is not None and cfg.rechoose_blend and self.betas:
            out['blend'] = self._rechoose_blend(trainer, blend, refind)
        out['refind'] = refind.to_dict()
        log.info('re-finding boost on validation: %s',
                 chosen['multipliers'])
        return out

    def _rechoose_blend(self, trainer: Any, blend: Any,
                        refind: Refind) -> Dict[str, Any]:
        # The floor's blend per group of the floor, under the boost.
        scores = group_scores(trainer, blend.group, refind=refind)
        best = {g: (scores[g], float(blend.beta[g])) for g in (0, 1)}
        for beta in self.betas:
            blend.set_beta(beta)
            scores = group_scores(trainer, blend.group, refind=refind)
            for g in (0, 1):
                if g not in best or scores[g] > best[g][0]:
                    best[g] = (scores[g], beta)
        for g, (_, beta) in best.items():
            blend.beta[g] = beta
        return {'beta': [best[g][1] for g in (0, 1)],
                'demote_aux': blend.demote.tolist(),
                'users': torch.bincount(blend.group, minlength=2).tolist(),
                'under_refind': True}
