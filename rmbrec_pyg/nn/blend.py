from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module


class ScoreBlend(Module):
    r"""Mixes the scores of the multi-behavior model and of a
    :class:`TargetTower` per user,

    .. math::
        s_{ui} = (1 - \beta_{g(u)})\, \mathbf{z}_u^\top\mathbf{z}_i
        + \beta_{g(u)}\, \mathbf{t}_u^\top\mathbf{t}_i,

    with one :math:`\beta` per group of users, the groups fixed from
    training data (:meth:`from_training_bar`): users whose *training*
    purchases follow an auxiliary behavior (:math:`g = 0`) and users who
    buy directly or have no training purchase (:math:`g = 1`). Each group
    also says whether its users' auxiliary items are ranked last
    (:attr:`demote`).
    The :math:`\beta` s and :attr:`demote` are chosen on validation
    (:class:`~rmbrec_pyg.train.calibration.BlendSearch`); they are
    buffers, part of the model's state. The blend is one dot product of
    concatenated embeddings (:meth:`concat`), so every ranking tool scores
    it as it scores any embeddings.

    Args:
        group (Tensor): :obj:`[U]` group (0 or 1) of every user.
    """
    group: Tensor
    beta: Tensor
    demote: Tensor

    def __init__(self, group: Tensor) -> None:
        super().__init__()
        self.register_buffer('group', group.long().clamp(0, 1))
        self.register_buffer('beta', torch.zeros(2))
        self.register_buffer('demote', torch.zeros(2, dtype=torch.bool))

    @classmethod
    def from_training_bar(cls, bar: Tensor, has_target: Tensor,
                          threshold: float = 0.01) -> 'ScoreBlend':
        r"""Groups users by the share :obj:`bar` of their training
        purchases that an auxiliary behavior announces: below
        :obj:`threshold` (or without any training purchase) is group 1.
        The default 0.01 leaves there only users none of whose training
        purchases was announced."""
        return cls(((bar < threshold) | ~has_target).long())

    def set_beta(self, beta: float) -> None:
        r"""One :math:`\beta` for both groups (model selection)."""
        self.beta.fill_(float(beta))

    def concat(self, zu: Tensor, zi: Tensor, tu: Tensor, ti: Tensor
               ) -> Tuple[Tensor, Tensor]:
        r"""User and item embeddings whose dot products are the blend."""
        b = self.beta[self.group].unsqueeze(-1)
        return (torch.cat([(1 - b) * zu, b * tu], -1),
                torch.cat([zi, ti], -1))

    def demote_users(self) -> Optional[Tensor]:
        r""":obj:`[U]` whose auxiliary items rank last, or :obj:`None`."""
        if not bool(self.demote.any()):
            return None
        return self.demote[self.group]

    def extra_repr(self) -> str:
        sizes = torch.bincount(self.group, minlength=2).tolist()
        return (f'users per group {sizes}, beta={self.beta.tolist()}, '
                f'demote={self.demote.tolist()}')
