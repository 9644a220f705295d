r"""BPR losses for the target and per behavior, and the embedding L2 term."""
from typing import Optional

import math

import torch
import torch.nn.functional as F
from torch import Tensor

MISSING_MODES = ('mask', 'filler')
LOG2 = math.log(2.0)


def bpr_loss(pos_score: Tensor, neg_score: Tensor,
             mask: Optional[Tensor] = None, missing: str = 'mask') -> Tensor:
    r"""The Bayesian Personalised Ranking loss
    :math:`-\frac{1}{N}\sum \log\sigma(s_{ui} - s_{uj})` (paper Eq. 2, 9).

    Args:
        pos_score (Tensor): Positive scores :obj:`[N]`.
        neg_score (Tensor): Negative scores :obj:`[N]`.
        mask (Tensor, optional): :obj:`[N]` booleans, :obj:`False` for rows
            of users without a positive.
        missing (str): ``'mask'`` averages over valid rows only (paper);
            ``'filler'`` reproduces the authors' ``[0, 0, 0]`` filler rows,
            which enter the mean with a loss of :math:`\log 2` and no
            gradient. (default: :obj:`'mask'`)
    """
    loss = -F.logsigmoid(pos_score - neg_score)
    if mask is None:
        return loss.mean()
    if missing == 'filler':
        return torch.where(mask, loss, torch.full_like(loss, LOG2)).mean()
    maskf = mask.to(loss.dtype)
    return (loss * maskf).sum() / maskf.sum().clamp_min(1.0)


def behavior_losses(diffs: Tensor, mask: Tensor,
                    missing: str = 'mask') -> Tensor:
    r"""Per-behavior BPR losses :obj:`[B]` from :obj:`[N, B]` score
    differences and the :obj:`[N, B]` mask of users having that behavior."""
    loss = -F.logsigmoid(diffs)
    maskf = mask.to(loss.dtype)
    if missing == 'filler':
        return (loss * maskf + LOG2 * (1 - maskf)).mean(0)
    return (loss * maskf).sum(0) / maskf.sum(0).clamp_min(1.0)


def embedding_l2(*tensors: Tensor, batch_size: int) -> Tensor:
    r""":math:`\frac{1}{2N}\sum \|\mathbf{x}\|_2^2` over the given tensors,
    as the authors' code regularises the propagated batch embeddings."""
    total = sum(t.pow(2).sum() for t in tensors)
    return 0.5 * total / max(batch_size, 1)  # type: ignore[operator]


