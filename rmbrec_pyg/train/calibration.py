r"""Adaptive fusion's post-training calibration, on validation only: how
much of the target tower to mix into the fusion weights, and whether to rank
a user's auxiliary items after all others (a direct-purchase regime)."""
import copy
import logging
from typing import Any, Dict, List, Optional

import torch

log = logging.getLogger('rmbrec_pyg')


def copy_state(module: torch.nn.Module) -> Dict[str, Any]:
    r"""A detached copy of :obj:`module`'s state dict (extra state
    included)."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor)
            else copy.deepcopy(v) for k, v in module.state_dict().items()}


class Calibration:
    r"""Chooses the target mix :math:`\alpha` of
    :class:`~rmbrec_pyg.nn.AdaptiveFusion` among :obj:`alphas` (and
    ``demote_aux`` among ``[False, True]``) by the monitored validation
    metric of the selected model; test is reported at the chosen values.
    The choice becomes part of the model: :math:`\alpha` in the encoder's
    state, ``demote_aux`` in ``best.pt``'s ``ranking`` entry.

    Args:
        alphas (List[float]): The grid of target mixes.
        demote_aux (bool): Also try demoting auxiliary items.
    """
    def __init__(self, alphas: List[float], demote_aux: bool = True) -> None:
        self.alphas = list(alphas)
        self.demote_aux = demote_aux
        self.best_state: Optional[Dict[str, Any]] = None

    def remember(self, encoder: torch.nn.Module) -> None:
        r"""Keeps a copy of the model that became the best one."""
        self.best_state = copy_state(encoder)

    def run(self, trainer: Any) -> None:
        r"""Calibrates the best model of :obj:`trainer` (kept by
        :meth:`remember`, or read back from its ``best.pt`` after a resume),
        updates its metrics and ``best.pt``, then restores the encoder's
        current state."""
        encoder, fusion = trainer.encoder, trainer.encoder.fusion
        state = self.best_state
        if state is None:
            saved = trainer.checkpoints.load('best.pt', trainer.device)
            state = None if saved is None else saved['encoder']
        if fusion is None or state is None:
            return
        current = copy_state(encoder)
        encoder.load_state_dict(state)
        monitor = trainer.config.monitor
        best = None
        for a in self.alphas:
            for demote in ([False, True] if self.demote_aux else [False]):
                fusion.alpha = float(a)
                res = trainer.evaluate(demote_aux=demote)
                score = res['val'][monitor]
                if best is None or score > best[0]:
                    best = (score, a, demote, res)
        assert best is not None
        score, a, demote, res = best
        fusion.alpha = float(a)
        trainer.best.update({'valid': res['val'], 'test': res['test'],
                             'valid_groups': res['val_groups'],
                             'test_groups': res['test_groups'],
                             'score': score, 'fusion_alpha': a,
                             'demote_aux': demote,
                             'fusion_weights': fusion.as_dict()})
        log.info('calibrated on validation: alpha=%g, demote_aux=%s, '
                 'weights %s', a, demote, trainer.best['fusion_weights'])
        saved = trainer.checkpoints.load('best.pt')
        if saved is not None:
            saved.update(encoder=encoder.state_dict(), best=trainer.best,
                         ranking={'demote_aux': demote})
            trainer.checkpoints.save_best(saved)
        encoder.load_state_dict(current)
