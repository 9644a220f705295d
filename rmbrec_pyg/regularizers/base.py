from dataclasses import dataclass, field
from typing import List, Optional

import torch
from torch import Tensor


@dataclass
class RegularizerInput:
    r"""Everything a regularizer may look at, computed once per step and
    shared by all terms (as :class:`LinkPredMetricData` is shared by PyG's
    link-prediction metrics).

    Attributes:
        user_emb (Tensor): :obj:`[N, B, F]` per-behavior embeddings of the
            batch's users that have a target triple, or, when
            :obj:`user_mask` is given, of all the batch's users.
        behavior_losses (Tensor): :obj:`[B]` per-behavior BPR losses.
        score_diffs (Tensor): :obj:`[N', B]` per-behavior score differences
            :math:`s_{ui}^{(b)} - s_{uj}^{(b)}` of the batch triples.
        mask (Tensor): :obj:`[N', B]` whether the triple's user has that
            behavior.
        target_index (int): Position of the target behavior.
        behaviors (List[str]): Behavior names.
        params (List[Tensor]): The base embedding tables, for penalties on
            gradients (IRMv2).
        missing (str): How rows without a positive enter the losses
            (``'mask'`` or ``'filler'``).
        behavior_weights (Tensor, optional): :obj:`[B]` weights summing to
            one (adaptive fusion); terms then weight behaviors accordingly,
            uniform weights giving the unweighted term.
        user_mask (Tensor, optional): :obj:`[N]` which rows of
            :obj:`user_emb` count (static shapes, as a captured CUDA graph
            needs: no boolean indexing). Only terms with
            :attr:`Regularizer.supports_static_shapes` are given one.
    """
    user_emb: Tensor
    behavior_losses: Tensor
    score_diffs: Tensor
    mask: Tensor
    target_index: int
    behaviors: List[str]
    params: List[Tensor] = field(default_factory=list)
    missing: str = 'mask'
    behavior_weights: Optional[Tensor] = None
    user_mask: Optional[Tensor] = None

    def relative_weights(self, indices: List[int]) -> Optional[Tensor]:
        r"""The weights of :obj:`indices` relative to the largest of them
        (uniform weights give all ones; a behavior with weight near zero
        drops out as if removed, without boosting the others), or
        :obj:`None` without weights."""
        if self.behavior_weights is None:
            return None
        w = self.behavior_weights[indices]
        return w / w.max().clamp_min(1e-12)

    @property
    def aux_indices(self) -> List[int]:
        return [i for i in range(len(self.behaviors))
                if i != self.target_index]


class Regularizer(torch.nn.Module):
    r"""Base class of the plug-in loss terms. A subclass implements
    :meth:`forward`, which returns an **unweighted** scalar; the trainer
    multiplies it by :obj:`weight` and logs both values.

    Add a term of your own by subclassing and naming it in a config:

    .. code-block:: yaml

        regularizer:
          mine:
            _target_: my_package.MyRegularizer
            weight: 0.1

    Args:
        weight (float): The weight of the term (e.g. :math:`\lambda_1`).
            (default: :obj:`1.0`)
    """
    #: Whether the term differentiates through gradients (double backward);
    #: the trainer then turns off the encoder's fused propagation.
    needs_double_backward: bool = False
    #: Whether the term handles :attr:`RegularizerInput.user_mask`, so that
    #: a training step can run with static shapes (CUDA graphs).
    supports_static_shapes: bool = False

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        weight = float(weight)
        if not weight >= 0.0:
            raise ValueError(f"'weight' must be >= 0 in "
                             f"'{self.__class__.__name__}' (got {weight})")
        self.weight = weight

    def check_choice(self, arg: str, value: str, choices: tuple) -> str:
        r"""Returns :obj:`value`, or raises the package's one-line
        :class:`ValueError` if it is not among :obj:`choices`."""
        if value not in choices:
            raise ValueError(f"'{arg}' must be one of {choices} in "
                             f"'{self.__class__.__name__}' (got {value!r})")
        return value

    def forward(self, inputs: RegularizerInput) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f'weight={self.weight}'
