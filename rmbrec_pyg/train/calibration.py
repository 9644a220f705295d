r"""Choices made after training, on validation only, on the selected model:
adaptive fusion's target mix (:class:`FusionSearch`) and the target floor's
per-group blend (:class:`BlendSearch`), each with whether to rank auxiliary
items last. The choices become part of the model (its state) or of
``best.pt``'s ``ranking`` entry, so that every tool ranks as evaluated."""
import copy
import logging
from typing import Any, Dict, List, Optional

import torch

from rmbrec_pyg.evaluation import ranked_lists, ranking_metrics

log = logging.getLogger('rmbrec_pyg')


def copy_state(module: torch.nn.Module) -> Dict[str, Any]:
    r"""A detached copy of :obj:`module`'s state dict (extra state
    included)."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor)
            else copy.deepcopy(v) for k, v in module.state_dict().items()}


class FusionSearch:
    r"""Chooses the target mix :math:`\alpha` of
    :class:`~rmbrec_pyg.nn.AdaptiveFusion` among :obj:`alphas` (and whether
    to rank every user's auxiliary items last) by the monitored validation
    metric; :math:`\alpha` stays in the encoder's state.

    Args:
        alphas (List[float]): The grid of target mixes.
        demote_aux (bool): Also try demoting auxiliary items.
    """
    def __init__(self, alphas: List[float], demote_aux: bool = True) -> None:
        self.alphas = list(alphas)
        self.demote_aux = demote_aux

    def __call__(self, trainer: Any) -> Optional[Dict[str, Any]]:
        fusion = trainer.encoder.fusion
        if fusion is None:
            return None
        monitor, best = trainer.config.monitor, None
        for a in self.alphas:
            for demote in ([False, True] if self.demote_aux else [False]):
                fusion.alpha = float(a)
                score = trainer.evaluate(('val', ),
                                         demote_aux=demote)['val'][monitor]
                if best is None or score > best[0]:
                    best = (score, a, demote)
        assert best is not None
        fusion.alpha = float(best[1])
        return {'fusion_alpha': best[1], 'demote_aux': best[2],
                'fusion_weights': fusion.as_dict()}


class BlendSearch:
    r"""Chooses, per group of users, the blend :math:`\beta` of
    :class:`~rmbrec_pyg.nn.ScoreBlend` among :obj:`betas` and whether to
    rank the group's auxiliary items last, each by the monitored metric of
    that group's validation users (the groups are disjoint, so together
    these are the best choice for all users); they stay in the encoder's
    state.

    Args:
        betas (List[float]): The grid of blends.
        demote_aux (bool): Also try demoting auxiliary items.
    """
    def __init__(self, betas: List[float], demote_aux: bool = True) -> None:
        self.betas = list(betas)
        self.demote_aux = demote_aux

    def __call__(self, trainer: Any) -> Optional[Dict[str, Any]]:
        blend = trainer.encoder.blend
        if blend is None:
            return None
        ev, monitor = trainer.evaluator, trainer.config.monitor
        metric, k = monitor.split('@')
        labels = ev.labels['val']
        group = blend.group[labels[0]]
        best: Dict[int, Any] = {}
        blend.demote.fill_(False)
        for beta in self.betas:
            blend.set_beta(beta)
            zu, zi = trainer.embeddings()
            for demote in ([False, True] if self.demote_aux else [False]):
                lists = ranked_lists(ev.ranks(zu, zi, ('val', ), demote)
                                     ['val'], labels, ev.config.protocol)
                for g in (0, 1):
                    score = ranking_metrics(lists, [int(k)], group == g,
                                            [metric])[monitor]
                    if g not in best or score > best[g][0]:
                        best[g] = (score, beta, demote)
        for g, (_, beta, demote) in best.items():
            blend.beta[g] = beta
            blend.demote[g] = demote
        sizes = torch.bincount(blend.group, minlength=2).tolist()
        return {'blend': {'beta': blend.beta.tolist(),
                          'demote_aux': blend.demote.tolist(),
                          'users': sizes}}


class Calibration:
    r"""Runs the searches, in order, on the selected model (kept by
    :meth:`remember`, or read back from ``best.pt`` after a resume), then
    evaluates it once more, records the choices and the new metrics in the
    trainer's best entry and ``best.pt``, and restores the encoder's
    current state.

    Args:
        searches (List): :class:`FusionSearch`, :class:`BlendSearch`, ...
    """
    def __init__(self, searches: List[Any]) -> None:
        self.searches = list(searches)
        self.best_state: Optional[Dict[str, Any]] = None

    def remember(self, encoder: torch.nn.Module) -> None:
        r"""Keeps a copy of the model that became the best one."""
        self.best_state = copy_state(encoder)

    def run(self, trainer: Any) -> None:
        encoder, state = trainer.encoder, self.best_state
        if state is None:
            saved = trainer.checkpoints.load('best.pt', trainer.device)
            state = None if saved is None else saved['encoder']
        if state is None or not self.searches:
            return
        current = copy_state(encoder)
        encoder.load_state_dict(state)
        choices: Dict[str, Any] = {}
        for search in self.searches:
            choices.update(search(trainer) or {})
        if not choices:
            encoder.load_state_dict(current)
            return
        trainer.best.update(choices)
        res = trainer.evaluate(demote_aux=bool(choices.get('demote_aux')))
        trainer.best.update({'valid': res['val'], 'test': res['test'],
                             'valid_groups': res['val_groups'],
                             'test_groups': res['test_groups'],
                             'score': res['val'][trainer.config.monitor]})
        log.info('calibrated on validation: %s', choices)
        saved = trainer.checkpoints.load('best.pt')
        if saved is not None:
            saved.update(encoder=encoder.state_dict(), best=trainer.best,
                         ranking={'demote_aux': bool(
                             trainer.best.get('demote_aux'))})
            trainer.checkpoints.save_best(saved)
        encoder.load_state_dict(current)


def make_calibration(encoder: Any, fusion: Any, floor: Any
                     ) -> Optional[Calibration]:
    r"""The calibration a model needs: adaptive fusion's target mix (with
    ``fusion.calibrate``) and the target floor's blend; :obj:`None` when
    there is nothing to choose."""
    searches: List[Any] = []
    if encoder.fusion is not None and fusion.calibrate:
        searches.append(FusionSearch(fusion.alphas, fusion.demote_aux))
    if encoder.blend is not None:
        searches.append(BlendSearch(floor.betas, floor.demote_aux))
    return Calibration(searches) if searches else None


def select_blend(trainer: Any, betas: List[float]) -> Dict[str, Any]:
    r"""The evaluation of an epoch: with a target floor, the best (on
    validation) of the uniform blends :obj:`betas`, which the blend keeps;
    else the plain evaluation."""
    blend = trainer.encoder.blend
    if blend is None:
        return trainer.evaluate()
    best = None
    for beta in betas:
        blend.set_beta(beta)
        res = trainer.evaluate()
        if best is None or res['val'][trainer.config.monitor] > best[0]:
            best = (res['val'][trainer.config.monitor], beta, res)
    assert best is not None
    blend.set_beta(best[1])
    return best[2]
