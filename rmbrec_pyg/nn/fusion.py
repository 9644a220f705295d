from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor
from torch.nn import Module, Parameter


def alignment_prior(bar: Mapping[str, float], target: str,
                    power: float = 1.0) -> Tensor:
    r"""The prior of :class:`AdaptiveFusion` from each behavior's training
    BAR (:func:`~rmbrec_pyg.data.training_bar`): every auxiliary behavior's
    BAR relative to the best auxiliary behavior, to the power
    :math:`\gamma`, and 1 for the target. The best-aligned auxiliary
    behavior and the target thus start level (equal fusion when all
    behaviors are well aligned), and a behavior that covers few purchases
    starts near zero. In the order of :obj:`bar`."""
    values = torch.tensor([float(v) for v in bar.values()])
    names = list(bar)
    aux = [i for i, b in enumerate(names) if b != target]
    prior = torch.ones_like(values)
    if aux:
        top = values[aux].max().clamp_min(1e-12)
        prior[aux] = (values[aux] / top).pow(power)
    return prior


class AdaptiveFusion(Module):
    r"""Per-behavior weights for fusing the behavior towers (and for
    weighting per-behavior losses), guided by each behavior's alignment with
    the target: computed from a prior :math:`\pi`, or learned from it.

    The weights are :math:`\mathbf{w} = (1-\alpha)\,\mathrm{softmax}(
    \mathbf{g}) + \alpha\,\mathbf{e}_{target}` with a gate :math:`\mathbf{g}`
    initialised at :math:`\log\pi`, so that :math:`\mathbf{w} = \pi` at the
    start, and a target mix :math:`\alpha` (0 in training; chosen on
    validation afterwards). Frozen (:obj:`learn=False`), the weights stay
    the prior; learned, the gate is held near it by the penalty
    :math:`\mathrm{KL}(\mathrm{softmax}(\mathbf{g})\,\|\,\pi)`. See
    :func:`alignment_prior` and :meth:`from_data` for the prior built from
    the training BAR: a behavior that explains few purchases (e.g. random or
    misaligned clicks) starts, and stays unless the loss strongly disagrees,
    near zero weight, with no manual removal.

    The gate, the prior and :math:`\alpha` are part of the module's state
    (:meth:`state_dict`), so a saved encoder ranks as it was evaluated.

    Args:
        behaviors (Sequence[str]): Behavior names, in the encoder's order.
        prior (Tensor): :obj:`[B]` non-negative prior weights.
        min_prior (float): Floor of the normalised prior, so that every
            gate stays trainable. (default: :obj:`1e-3`)
        learn (bool): If :obj:`False`, the weights are *computed* (frozen
            at the prior :math:`\pi`) rather than learned, and
            :meth:`penalty` is zero. (default: :obj:`True`)
        target (str, optional): The target behavior, needed for a target
            mix :math:`\alpha > 0`. (default: :obj:`None`)
    """
    def __init__(self, behaviors: Sequence[str], prior: Tensor,
                 min_prior: float = 1e-3, learn: bool = True,
                 target: Optional[str] = None) -> None:
        super().__init__()
        prior = prior.detach().to(torch.float).clamp_min(0.0)
        prior = prior / prior.sum().clamp_min(1e-12)
        prior = prior.clamp_min(min_prior)
        prior = prior / prior.sum()
        self.behaviors: List[str] = list(behaviors)
        self.learn = bool(learn)
        self.target = target
        self.register_buffer('prior', prior)
        self.gate = Parameter(torch.empty_like(prior), requires_grad=learn)
        self.alpha = 0.0
        self.reset_parameters()

    @classmethod
    def from_data(cls, data: Any, behaviors: Sequence[str],
                  prior_power: float = 1.0, **kwargs: Any
                  ) -> 'AdaptiveFusion':
        r"""Builds the fusion of :obj:`behaviors` from the training BAR of a
        multi-behavior :class:`~torch_geometric.data.HeteroData`
        (:func:`alignment_prior` with :obj:`power=prior_power`)."""
        from rmbrec_pyg.data.stats import training_bar
        target = str(data.target)
        prior = alignment_prior(training_bar(data, behaviors), target,
                                prior_power)
        return cls(behaviors, prior, target=target, **kwargs)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.gate.copy_(self.prior.log())
        self.alpha = 0.0
        self._uniform = bool((self.prior == self.prior[0]).all())

    @property
    def constant_mean(self) -> bool:
        r"""Whether the weights are exactly the plain mean over behaviors
        (frozen uniform prior, no target mix)."""
        return not self.learn and self.alpha == 0.0 and self._uniform

    def weights(self) -> Tensor:
        w = torch.softmax(self.gate, dim=0)
        if self.alpha == 0.0:
            return w
        if self.target is None:
            raise ValueError(f"a target mix needs 'target' in "
                             f"'{self.__class__.__name__}'")
        onehot = torch.zeros_like(w)
        onehot[self.behaviors.index(self.target)] = 1.0
        return (1 - self.alpha) * w + self.alpha * onehot

    def penalty(self) -> Tensor:
        r""":math:`\mathrm{KL}(\mathrm{softmax}(\mathbf{g})\,\|\,\pi)`."""
        w = torch.softmax(self.gate, dim=0)
        return (w * (w.clamp_min(1e-12).log() - self.prior.log())).sum()

    def as_dict(self) -> Dict[str, float]:
        return dict(zip(self.behaviors, self.weights().detach().tolist()))

    def config(self) -> Dict[str, Any]:
        r"""Constructor arguments as plain data (see
        :meth:`MultiBehaviorEncoder.config`)."""
        return {'behaviors': self.behaviors, 'prior': self.prior.tolist(),
                'learn': self.learn, 'target': self.target}

    def get_extra_state(self) -> Dict[str, float]:
        return {'alpha': self.alpha}

    def set_extra_state(self, state: Dict[str, float]) -> None:
        self.alpha = float(state['alpha'])
        self._uniform = bool((self.prior == self.prior[0]).all())

    def __repr__(self) -> str:
        prior = ', '.join(f'{b}={p:.3f}' for b, p in
                          zip(self.behaviors, self.prior.tolist()))
        return (f'{self.__class__.__name__}(prior: {prior}, '
                f'learn={self.learn}, alpha={self.alpha:g})')
