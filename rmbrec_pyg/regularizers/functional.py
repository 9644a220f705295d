r"""RRM and ORM as functions, for a training loop of your own: each takes
the tensors it needs (not a :class:`~rmbrec_pyg.regularizers.
RegularizerInput` with every field) and returns the **unweighted** term, as
:class:`~rmbrec_pyg.regularizers.RRM` and :class:`~rmbrec_pyg.
regularizers.ORM` compute it.

.. code-block:: python

    from rmbrec_pyg.regularizers import functional as R

    # user_emb: [N, B, F] per-behavior embeddings of a batch's users
    loss = bpr + 0.1 * R.rrm(user_emb, target_index=B - 1)
    # behavior_losses: [B] one BPR loss per behavior
    loss = loss + 0.1 * R.orm(behavior_losses)
"""
from typing import Optional, Sequence

from torch import Tensor

from rmbrec_pyg.regularizers.base import RegularizerInput
from rmbrec_pyg.regularizers.orm import ORM
from rmbrec_pyg.regularizers.rrm import RRM


def _inputs(user_emb: Optional[Tensor], behavior_losses: Optional[Tensor],
            target_index: int, behaviors: Optional[Sequence[str]],
            num: int) -> RegularizerInput:
    ref = user_emb if user_emb is not None else behavior_losses
    assert ref is not None
    names = list(behaviors) if behaviors is not None else [
        f'b{k}' for k in range(num)]
    if len(names) != num:
        raise ValueError(f"'behaviors' names {len(names)} behaviors, the "
                         f'tensors hold {num}')
    if not 0 <= target_index < num:
        raise ValueError(f"'target_index' {target_index} is not one of the "
                         f'{num} behaviors')
    return RegularizerInput(
        user_emb=user_emb if user_emb is not None else ref.new_zeros(0, num,
                                                                     1),
        behavior_losses=behavior_losses if behavior_losses is not None
        else ref.new_zeros(num),
        score_diffs=ref.new_zeros(0, num), mask=ref.new_zeros(0, num).bool(),
        target_index=target_index, behaviors=names)


def rrm(user_emb: Tensor, target_index: int = -1, temperature: float = 0.07,
        variant: str = 'symmetric', aux_reduction: str = 'sum',
        behaviors: Optional[Sequence[str]] = None) -> Tensor:
    r"""RMBRec's Representation Robustness Module: the contrastive term
    that pulls each user's auxiliary-behavior embeddings towards its target
    embedding (see :class:`~rmbrec_pyg.regularizers.RRM` for the variants).

    Args:
        user_emb (Tensor): :obj:`[N, B, F]` per-behavior embeddings of a
            batch of users.
        target_index (int): Position of the target behavior among the
            :obj:`B`. (default: :obj:`-1`, the last)
        temperature, variant, aux_reduction: As :class:`RRM`'s.
        behaviors (Sequence[str], optional): Behavior names (only checked).
    """
    if user_emb.dim() != 3:
        raise ValueError(f"'user_emb' must be [N, B, F] (got "
                         f'{list(user_emb.shape)})')
    num = user_emb.size(1)
    target_index = target_index % num
    term = RRM(1.0, temperature, variant, aux_reduction)
    return term(_inputs(user_emb, None, target_index, behaviors, num))


def orm(behavior_losses: Tensor, mode: str = 'rex', unbiased: bool = True,
        include_target: bool = True, target_index: int = -1) -> Tensor:
    r"""RMBRec's Optimization Robustness Module: the variance of the
    per-behavior risks (``mode='rex'``, Eq. 7), or IRMv1 with the loss as
    dummy (``mode='irm_v1'``); see :class:`~rmbrec_pyg.regularizers.ORM`.

    Args:
        behavior_losses (Tensor): :obj:`[B]` one BPR loss per behavior.
        mode, unbiased, include_target: As :class:`ORM`'s (``'irm_v2'``
            needs the embedding tables: use :class:`ORM`).
        target_index (int): Position of the target behavior (for
            :obj:`include_target=False`). (default: :obj:`-1`)
    """
    if behavior_losses.dim() != 1:
        raise ValueError(f"'behavior_losses' must be [B] (got "
                         f'{list(behavior_losses.shape)})')
    if mode == 'irm_v2':
        raise ValueError("orm(mode='irm_v2') needs the embedding tables; "
                         'use rmbrec_pyg.regularizers.ORM')
    num = behavior_losses.numel()
    term = ORM(1.0, mode, unbiased, include_target,
               dummy='loss' if mode == 'irm_v1' else 'scores')
    return term(_inputs(None, behavior_losses, target_index % num, None,
                        num))
