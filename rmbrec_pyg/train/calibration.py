r"""Choices made after training, on validation only, on the selected model:
adaptive fusion's target mix (:class:`FusionSearch`), the target floor's
per-group blend (:class:`BlendSearch`), each with whether to rank auxiliary
items last, and the re-finding boost of the user's unbought auxiliary items
(:class:`~rmbrec_pyg.train.refind_search.RefindSearch`). The choices become
part of the model (its state) or of ``best.pt``'s ``ranking`` entry, so that
every tool ranks as evaluated."""
import copy
import logging
from typing import Any, Dict, List, Optional

import torch

from rmbrec_pyg.train.checkpoint import ranking_options
from rmbrec_pyg.train.refind_search import RefindSearch, group_scores

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
    r"""The target floor's two tracks and its blend.

    During training (:meth:`track`, every evaluation), the multi-behavior
    model (:math:`\beta = 0`) and the target tower (:math:`\beta = 1`) are
    each scored on validation: the model drives model selection and early
    stopping as usual, and the tower's best state is kept on its own, with
    training going on past the model's patience while the tower still
    improves and beats the model on some group of users
    (:meth:`wants_more`). After training (:meth:`__call__`), the tower's best
    state joins the model's, and per group of users the blend
    :math:`\beta` among :obj:`betas` and whether to rank the group's
    auxiliary items last are chosen, each by the monitored metric of that
    group's validation users (the groups are disjoint, so together these are
    the best choice for all users); they stay in the encoder's state.

    Args:
        betas (List[float]): The grid of blends.
        demote_aux (bool): Also try demoting auxiliary items.
    """
    def __init__(self, betas: List[float], demote_aux: bool = True) -> None:
        self.betas = list(betas)
        self.demote_aux = demote_aux
        self.tower_state: Optional[Dict[str, Any]] = None
        self.tower_score, self.tower_epoch = -float('inf'), 0
        self.tower_ahead = False

    @staticmethod
    def _scores(trainer: Any, demote: bool = False) -> Dict[Any, float]:
        # The monitored validation metric, overall and per user group.
        return group_scores(trainer, trainer.encoder.blend.group, demote)

    def track(self, trainer: Any) -> Dict[str, Any]:
        r"""Scores both tracks at an evaluation, keeps the tower's best
        state, and returns the model's metrics (:math:`\beta = 0`)."""
        blend = trainer.encoder.blend
        blend.demote.fill_(False)
        blend.set_beta(1.0)
        tower = self._scores(trainer)
        if tower['all'] > self.tower_score:
            self.tower_score, self.tower_epoch = tower['all'], \
                trainer.epoch + 1
            self.tower_state = copy_state(trainer.encoder.target_tower)
        blend.set_beta(0.0)
        model = self._scores(trainer)
        self.tower_ahead = any(tower[g] > model[g] for g in (0, 1))
        return trainer.evaluate()

    def wants_more(self, epoch: int, patience: int) -> bool:
        r"""Whether the tower still improves and is the better model for
        some group, so that training goes on past the model's patience."""
        return self.tower_ahead and epoch - self.tower_epoch <= patience

    def __call__(self, trainer: Any) -> Optional[Dict[str, Any]]:
        blend = trainer.encoder.blend
        if blend is None:
            return None
        if self.tower_state is not None:
            trainer.encoder.target_tower.load_state_dict(self.tower_state)
        best: Dict[int, Any] = {}
        for beta in self.betas:
            blend.set_beta(beta)
            for demote in ([False, True] if self.demote_aux else [False]):
                scores = self._scores(trainer, demote)
                for g in (0, 1):
                    if g not in best or scores[g] > best[g][0]:
                        best[g] = (scores[g], beta, demote)
        for g, (_, beta, demote) in best.items():
            blend.beta[g] = beta
            blend.demote[g] = demote
        sizes = torch.bincount(blend.group, minlength=2).tolist()
        out = {'beta': [best[g][1] for g in (0, 1)],
               'demote_aux': blend.demote.tolist(), 'users': sizes}
        if self.tower_state is not None:  # the tower was tracked here
            out['tower_epoch'] = self.tower_epoch
        return {'blend': out}


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
        if getattr(encoder, 'blend', None) is not None:
            # As during training: the searches before the blend's see the
            # model alone (a best.pt read back holds an earlier blend).
            encoder.blend.set_beta(0.0)
            encoder.blend.demote.fill_(False)
        trainer.refind = None
        choices: Dict[str, Any] = {}
        for search in self.searches:
            for key, value in (search(trainer) or {}).items():
                if isinstance(value, dict) and isinstance(choices.get(key),
                                                          dict):
                    value = {**choices[key], **value}  # a later choice
                choices[key] = value
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
                         ranking=ranking_options(trainer))
            trainer.checkpoints.save_best(saved)
        encoder.load_state_dict(current)


def make_calibration(encoder: Any, fusion: Any, floor: Any,
                     rerank: Any = None) -> Optional[Calibration]:
    r"""The calibration a model needs: adaptive fusion's target mix (with
    ``fusion.calibrate``), the target floor's blend and the re-finding
    boost (``rerank.mode='refind'``, any model); :obj:`None` when there is
    nothing to choose."""
    searches: List[Any] = []
    if getattr(encoder, 'fusion', None) is not None and fusion.calibrate:
        searches.append(FusionSearch(fusion.alphas, fusion.demote_aux))
    if getattr(encoder, 'blend', None) is not None:
        searches.append(BlendSearch(floor.betas, floor.demote_aux))
    if rerank is not None and rerank.mode == 'refind':
        searches.append(RefindSearch(rerank, floor.betas))
    return Calibration(searches) if searches else None


def _blend_search(trainer: Any) -> Optional[BlendSearch]:
    if trainer.calibration is None:
        return None
    return next((s for s in trainer.calibration.searches
                 if isinstance(s, BlendSearch)), None)


def evaluate_epoch(trainer: Any) -> Dict[str, Any]:
    r"""The evaluation of an epoch: with a target floor, both of its tracks
    (:meth:`BlendSearch.track`); the returned metrics are the model's."""
    search = _blend_search(trainer)
    return trainer.evaluate() if search is None else search.track(trainer)


def keep_training(trainer: Any) -> bool:
    r"""Whether a target floor's tower asks for epochs past the model's
    patience (:meth:`BlendSearch.wants_more`)."""
    search = _blend_search(trainer)
    return search is not None and search.wants_more(
        trainer.epoch, trainer.config.patience)
