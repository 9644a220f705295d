from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from rmbrec_pyg.regularizers.base import Regularizer, RegularizerInput

RRM_VARIANTS = ('paper', 'symmetric')


class RRM(Regularizer):
    r"""The Representation Robustness Module of RMBRec: a target-anchored
    InfoNCE over user embeddings with in-batch negatives, cosine similarity
    and temperature :math:`\tau`.

    ``variant='paper'`` (Eq. 3-4): for auxiliary behavior :math:`b`, the
    positive pair is :math:`(\mathbf{p}_u^{(b)}, \mathbf{p}_u^{(t)})` and the
    negatives are the other batch users under the same behavior,
    :math:`\mathbf{p}_{u'}^{(b)}`:

    .. math::
        \mathcal{L}^{(b,u)} = -\log\frac{e^{s(\mathbf{p}_u^{(b)},
        \mathbf{p}_u^{(t)})/\tau}}{e^{s(\mathbf{p}_u^{(b)},
        \mathbf{p}_u^{(t)})/\tau} + \sum_{u'\neq u} e^{s(\mathbf{p}_u^{(b)},
        \mathbf{p}_{u'}^{(b)})/\tau}}

    (the positive is kept in the denominator, as in standard InfoNCE).

    ``variant='symmetric'`` (the authors' code): the symmetric InfoNCE
    between the target view and each auxiliary view, with logits
    :math:`s(\mathbf{p}_u^{(t)}, \mathbf{p}_{v}^{(b)})/\tau`, averaged over
    both directions.

    Args:
        weight (float): :math:`\lambda_1`. (default: :obj:`1.0`)
        temperature (float): :math:`\tau`. (default: :obj:`0.07`)
        variant (str): ``'paper'`` or ``'symmetric'``.
            (default: :obj:`'symmetric'`)
        aux_reduction (str): ``'mean'`` over auxiliary behaviors (paper
            Eq. 4) or ``'sum'`` (authors' code). (default: :obj:`'sum'`)
    """
    def __init__(self, weight: float = 1.0, temperature: float = 0.07,
                 variant: str = 'symmetric',
                 aux_reduction: str = 'sum') -> None:
        super().__init__(weight)
        self.variant = self.check_choice('variant', variant, RRM_VARIANTS)
        self.aux_reduction = self.check_choice('aux_reduction', aux_reduction,
                                               ('mean', 'sum'))
        if not temperature > 0:
            raise ValueError(f"'temperature' must be positive in "
                             f"'{self.__class__.__name__}' (got "
                             f'{temperature})')
        self.temperature = float(temperature)

    supports_static_shapes = True

    def pair_loss(self, aux: Tensor, anchor: Tensor,
                  mask: Optional[Tensor] = None) -> Tensor:
        r"""The loss between one auxiliary view :obj:`[N, F]` and the
        target view :obj:`[N, F]`, over the rows where :obj:`mask` (all by
        default; masked rows are neither anchors nor negatives)."""
        aux = F.normalize(aux, dim=-1)
        anchor = F.normalize(anchor, dim=-1)
        labels = torch.arange(aux.size(0), device=aux.device)
        if self.variant == 'symmetric':
            logits = anchor @ aux.t() / self.temperature
            return 0.5 * (self._ce(logits, labels, mask) +
                          self._ce(logits.t(), labels, mask))
        logits = aux @ aux.t() / self.temperature
        pos = (aux * anchor).sum(-1) / self.temperature
        logits = logits.clone()
        logits[labels, labels] = pos  # the diagonal holds the positive
        return self._ce(logits, labels, mask)

    @staticmethod
    def _ce(logits: Tensor, labels: Tensor,
            mask: Optional[Tensor]) -> Tensor:
        if mask is None:
            return F.cross_entropy(logits, labels)
        # Masked columns drop out of every softmax (a large negative logit
        # rather than -inf keeps rows without any valid column finite).
        logits = logits.masked_fill(~mask.view(1, -1), -1e9)
        loss = F.cross_entropy(logits, labels, reduction='none')
        return torch.where(mask, loss, 0.0).sum() / mask.sum().clamp(min=1)

    def forward(self, inputs: RegularizerInput) -> Tensor:
        anchor = inputs.user_emb[:, inputs.target_index]
        losses = [self.pair_loss(inputs.user_emb[:, b], anchor,
                                 inputs.user_mask)
                  for b in inputs.aux_indices]
        if not losses:
            return inputs.user_emb.new_zeros(())
        stacked = torch.stack(losses)
        rel = inputs.relative_weights(inputs.aux_indices)
        if rel is not None:
            stacked = stacked * rel
        return stacked.sum() if self.aux_reduction == 'sum' else stacked.mean()

    def extra_repr(self) -> str:
        return (f'weight={self.weight}, temperature={self.temperature}, '
                f"variant='{self.variant}', "
                f"aux_reduction='{self.aux_reduction}'")
