from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from rmbrec_pyg.loss import bpr_loss
from rmbrec_pyg.nn.baselines.base import CascadeBaseline, Key, Layers


class CRGCN(CascadeBaseline):
    r"""CRGCN from `"Cascading Residual Graph Convolutional Network for
    Multi-Behavior Recommendation" (TOIS 2023)
    <https://arxiv.org/abs/2205.13128>`_: the behaviors are chained in
    cascade order (view, cart, ..., target); each behavior's block
    propagates the previous block's output over its own graph and adds the
    L2-normalised result to it (a residual),

    .. math::
        \mathbf{E}_b = \mathbf{E}_{b-1} + \mathrm{norm}\big(
        \hat{A}_b^{L_b}\,\mathbf{E}_{b-1}\big), \qquad
        \mathbf{E}_0 = \text{the base embeddings},

    and is trained by multi-task learning: the sum over behaviors of BPR on
    :math:`\mathbf{E}_b` with that behavior's triples, plus
    :math:`\gamma(\|\mathbf{Z}_U\|_F + \|\mathbf{Z}_I\|_F)/|\mathcal{I}|`
    on the whole base tables (the authors' code). The target is scored with
    the last block, :math:`\mathbf{E}_{target}`.

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int or Mapping[str, int]): Layers per block.
            (default: :obj:`1`, as the authors' code for every dataset)
        reg (float): :math:`\gamma`. (default: :obj:`1e-3`)
        **kwargs (optional): More arguments of :class:`CascadeBaseline`
            (:obj:`order`) and :class:`MultiBehaviorBaseline`.
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 num_layers: Layers = 1, reg: float = 1e-3,
                 **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target,
                         num_layers, reg=reg, **kwargs)
        self.reset_parameters()

    def blocks(self, adj_dict: Mapping[Key, Any]) -> Dict[str, Tensor]:
        r"""Every behavior's block output :obj:`[U + I, F]`."""
        x, out = self.base(), {}
        for b in self.order:
            adj, h = self.graph(adj_dict, b), x
            for _ in range(self.layer_count(self.num_layers, b)):
                h = self.conv(h, adj)
            x = x + F.normalize(h, dim=-1)
            out[b] = x
        return out

    def forward(self, adj_dict: Mapping[Key, Any]
                ) -> Tuple[Tensor, Tensor]:
        return self.split(self.blocks(adj_dict)[self.target])

    def loss(self, adj_dict: Mapping[Key, Any], users: Tensor, pos: Tensor,
             neg: Tensor, mask: Tensor
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        blocks = self.blocks(adj_dict)
        terms: Dict[str, Tensor] = {}
        total = users.new_zeros((), dtype=self.user_embedding.weight.dtype)
        for k, b in enumerate(self.behaviors):
            zu, zi = self.split(blocks[b])
            eu = zu[users]
            terms[f'bpr_{b}'] = bpr_loss((eu * zi[pos[:, k]]).sum(-1),
                                         (eu * zi[neg[:, k]]).sum(-1),
                                         mask[:, k])
            total = total + terms[f'bpr_{b}']
        terms['main'] = terms[f'bpr_{self.target}']
        terms['reg'] = (self.user_embedding.weight.norm() +
                        self.item_embedding.weight.norm()) / self.num_items
        total = total + self.reg * terms['reg']
        terms['total'] = total
        return total, {k: v.detach() for k, v in terms.items()}


__all__: List[str] = ['CRGCN']
