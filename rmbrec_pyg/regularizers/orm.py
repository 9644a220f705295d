from typing import List

import torch
from torch import Tensor

from rmbrec_pyg.regularizers.base import Regularizer, RegularizerInput

ORM_MODES = ('rex', 'irm_v1', 'irm_v2')


class ORM(Regularizer):
    r"""The Optimization Robustness Module of RMBRec: an invariance penalty
    across behavioral environments (each behavior is one environment with
    risk :math:`\mathcal{L}^{(b)}_{BPR}`).

    * ``mode='rex'`` (Eq. 7, V-REx): the variance of the per-behavior BPR
      risks, :math:`\mathrm{Var}_b(\mathcal{L}^{(b)})`. ``unbiased=True``
      divides by :math:`|\mathcal{E}|-1` (``torch.var``, authors' code and
      Appendix A), ``False`` by :math:`|\mathcal{E}|` (Eq. 7).
    * ``mode='irm_v1'`` (Eq. 13, IRMv1): :math:`\sum_e \|\nabla_{w|w=1}
      R^e(w\circ\Phi)\|^2` with a dummy classifier scale :math:`w`. With
      ``dummy='scores'`` :math:`w` scales the scores inside the BPR loss
      (Arjovsky et al.); the gradient has the closed form
      :math:`\frac{1}{N}\sum -\sigma(-d)\,d`. With ``dummy='loss'`` it scales
      the loss, as the authors' code does, so the penalty is
      :math:`\sum_e (R^e)^2`.
    * ``mode='irm_v2'`` (authors' code for Eq. 14): the variance across
      environments of the risk gradients with respect to the shared user
      embedding table, averaged over its entries (needs double backward).

    Args:
        weight (float): :math:`\lambda_2`. (default: :obj:`1.0`)
        mode (str): ``'rex'``, ``'irm_v1'`` or ``'irm_v2'``.
            (default: :obj:`'rex'`)
        unbiased (bool): For ``'rex'``. (default: :obj:`True`)
        include_target (bool): Whether the target behavior is one of the
            environments (authors' code: yes; Appendix A: no).
            (default: :obj:`True`)
        dummy (str): For ``'irm_v1'``: ``'scores'`` or ``'loss'``.
            (default: :obj:`'scores'`)
    """
    def __init__(self, weight: float = 1.0, mode: str = 'rex',
                 unbiased: bool = True, include_target: bool = True,
                 dummy: str = 'scores') -> None:
        super().__init__(weight)
        self.mode = self.check_choice('mode', mode, ORM_MODES)
        self.dummy = self.check_choice('dummy', dummy, ('scores', 'loss'))
        self.needs_double_backward = mode == 'irm_v2'
        # Only the per-behavior losses and score differences are used.
        self.supports_static_shapes = mode != 'irm_v2'
        self.unbiased = bool(unbiased)
        self.include_target = bool(include_target)

    def environments(self, inputs: RegularizerInput) -> List[int]:
        if self.include_target:
            return list(range(len(inputs.behaviors)))
        return inputs.aux_indices

    def forward(self, inputs: RegularizerInput) -> Tensor:
        envs = self.environments(inputs)
        risks = inputs.behavior_losses[envs]
        if len(envs) < 2 and self.mode != 'irm_v1':
            return risks.sum() * 0.0
        rel = inputs.relative_weights(envs)
        if self.mode == 'rex':
            if rel is None:
                return risks.var(unbiased=self.unbiased)
            # weighted variance; uniform weights give torch.var exactly.
            # The unbiased form divides by 1 - sum(p^2) (= (n-1)/n when
            # uniform): an environment with weight 0 simply drops out.
            p = rel / rel.sum()
            mean = (p * risks).sum()
            var = (p * (risks - mean).pow(2)).sum()
            if not self.unbiased:
                return var
            return var / (1.0 - p.pow(2).sum()).clamp_min(1e-12)
        if self.mode == 'irm_v1':
            if self.dummy == 'loss':
                pen = risks.pow(2)
                return (pen if rel is None else pen * rel).sum()
            d = inputs.score_diffs[:, envs]
            m = inputs.mask[:, envs].to(d.dtype)
            # d/dw of -log sigmoid(w d) at w = 1 is -sigmoid(-d) d.
            g = -torch.sigmoid(-d) * d * m
            denom = (m.size(0) if inputs.missing == 'filler' else
                     m.sum(0).clamp_min(1.0))
            pen = (g.sum(0) / denom).pow(2)
            return (pen if rel is None else pen * rel).sum()
        # irm_v2
        if not inputs.params:
            raise ValueError("ORM(mode='irm_v2') needs the base embedding "
                             'tables in RegularizerInput.params')
        ref = inputs.params[0]
        grads = [
            torch.autograd.grad(risks[k], ref, create_graph=True,
                                retain_graph=True)[0].flatten()
            for k in range(len(envs))
        ]
        return torch.stack(grads).var(dim=0).mean()

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, mode='{self.mode}', "
                f'unbiased={self.unbiased}, '
                f'include_target={self.include_target}')
