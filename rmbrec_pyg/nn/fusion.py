from typing import List, Sequence

import torch
from torch import Tensor
from torch.nn import Module, Parameter


class AdaptiveFusion(Module):
    r"""Per-behavior weights for fusing the behavior towers (and for
    weighting per-behavior losses), guided by each behavior's alignment with
    the target: computed from a prior :math:`\pi`, or learned from it.

    The weights are :math:`\mathbf{w} = \mathrm{softmax}(\mathbf{g})` with
    a gate :math:`\mathbf{g}` initialised at :math:`\log\pi`, so that
    :math:`\mathbf{w} = \pi` at the start. Frozen (:obj:`learn=False`), the
    weights stay the prior; learned, the gate is held near it by the penalty
    :math:`\mathrm{KL}(\mathbf{w}\,\|\,\pi)`. The trainer sets
    :math:`\pi_b \propto (\mathrm{BAR}_{train}(b) / \max_{b'}
    \mathrm{BAR}_{train}(b'))^{\gamma}` for auxiliary behaviors and
    :math:`\pi_{target} \propto 1`, measured on the *training* pairs only.
    A behavior that explains few purchases (BAR near 0, e.g. random or
    misaligned clicks) starts, and stays unless the loss strongly
    disagrees, near zero weight, with no manual removal.

    Args:
        behaviors (Sequence[str]): Behavior names (for :meth:`as_dict`).
        prior (Tensor): :obj:`[B]` non-negative prior weights.
        min_prior (float): Floor of the normalised prior, so that every
            gate stays trainable. (default: :obj:`1e-3`)
        learn (bool): If :obj:`False`, the weights are *computed* (frozen
            at the prior :math:`\pi`) rather than learned, and
            :meth:`penalty` is zero. (default: :obj:`True`)
    """
    def __init__(self, behaviors: Sequence[str], prior: Tensor,
                 min_prior: float = 1e-3, learn: bool = True) -> None:
        super().__init__()
        prior = prior.detach().to(torch.float).clamp_min(0.0)
        prior = prior / prior.sum().clamp_min(1e-12)
        prior = prior.clamp_min(min_prior)
        prior = prior / prior.sum()
        self.behaviors: List[str] = list(behaviors)
        self.register_buffer('prior', prior)
        self.gate = Parameter(prior.log().clone(), requires_grad=learn)
        # Frozen uniform weights are exactly the plain mean over behaviors.
        self.constant_mean = not learn and bool((prior == prior[0]).all())

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.gate.copy_(self.prior.log())

    def weights(self) -> Tensor:
        return torch.softmax(self.gate, dim=0)

    def penalty(self) -> Tensor:
        r""":math:`\mathrm{KL}(\mathbf{w}\,\|\,\pi)`."""
        w = self.weights()
        return (w * (w.clamp_min(1e-12).log() - self.prior.log())).sum()

    def as_dict(self) -> dict:
        return dict(zip(self.behaviors, self.weights().detach().tolist()))

    def __repr__(self) -> str:
        prior = ', '.join(f'{b}={p:.3f}' for b, p in
                          zip(self.behaviors, self.prior.tolist()))
        return f'{self.__class__.__name__}(prior: {prior})'
