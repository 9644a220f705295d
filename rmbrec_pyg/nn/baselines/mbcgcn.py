from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, cast

import torch
from torch import Tensor
from torch.nn import Linear, ModuleDict

from rmbrec_pyg.loss import bpr_loss, embedding_l2
from rmbrec_pyg.nn.baselines.base import (CascadeBaseline, Key, Layers,
                                          xavier_or_normal)


class MBCGCN(CascadeBaseline):
    r"""MB-CGCN from `"Multi-Behavior Recommendation with Cascading Graph
    Convolution Networks" (WWW 2023) <https://arxiv.org/abs/2303.15720>`_:
    one LightGCN block per behavior in cascade order, each started from the
    previous block's output through a feature transformation (one linear
    map for users and one for items, no bias), and the blocks' outputs
    summed for the prediction,

    .. math::
        \mathbf{E}_b = \mathrm{LightGCN}_b\big(\mathbf{W}_{b-1}
        \mathbf{E}_{b-1}\big), \qquad
        \mathbf{E} = \sum_b \mathbf{E}_b,

    trained by BPR on the target triples only, plus LightGCN's L2 on the
    batch's base embeddings.

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int or Mapping[str, int]): Layers per block (each block
            averages its layers :math:`0..L_b`, as LightGCN).
            (default: :obj:`3`)
        reg (float): Weight of the L2 term. (default: :obj:`1e-4`)
        init_std (float, optional): Std of the normal initialisation of the
            embeddings and transformations. (default: :obj:`0.01`)
        **kwargs (optional): More arguments of :class:`CascadeBaseline`
            (:obj:`order`) and :class:`MultiBehaviorBaseline`.
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 num_layers: Layers = 3, reg: float = 1e-4,
                 init_std: Optional[float] = 0.01, **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target,
                         num_layers, init_std=init_std, reg=reg, **kwargs)
        embedding_dim = self.embedding_dim
        # A transformation after every block but the last.
        self.user_transform = ModuleDict({
            b: Linear(embedding_dim, embedding_dim, bias=False)
            for b in self.order[:-1]})
        self.item_transform = ModuleDict({
            b: Linear(embedding_dim, embedding_dim, bias=False)
            for b in self.order[:-1]})
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for maps in (self.user_transform, self.item_transform):
            for lin in maps.values():
                xavier_or_normal(cast(Linear, lin).weight, self.init_std)

    def blocks(self, adj_dict: Mapping[Key, Any]) -> Dict[str, Tensor]:
        r"""Every behavior's block output :obj:`[U + I, F]`."""
        x, out = self.base(), {}
        for b in self.order:
            adj, h, total = self.graph(adj_dict, b), x, x
            layers = self.layer_count(self.num_layers, b)
            for _ in range(layers):
                h = self.conv(h, adj)
                total = total + h
            out[b] = total / (layers + 1)
            if b in self.user_transform:
                zu, zi = self.split(out[b])
                x = torch.cat([self.user_transform[b](zu),
                               self.item_transform[b](zi)])
        return out

    def forward(self, adj_dict: Mapping[Key, Any]
                ) -> Tuple[Tensor, Tensor]:
        return self.split(torch.stack(list(
            self.blocks(adj_dict).values())).sum(0))

    def loss(self, adj_dict: Mapping[Key, Any], users: Tensor, pos: Tensor,
             neg: Tensor, mask: Tensor
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        t = self.target_index
        zu, zi = self(adj_dict)
        u, i, j = users, pos[:, t], neg[:, t]
        main = bpr_loss((zu[u] * zi[i]).sum(-1), (zu[u] * zi[j]).sum(-1),
                        mask[:, t])
        keep = mask[:, t]
        reg = embedding_l2(self.user_embedding.weight[u[keep]],
                           self.item_embedding.weight[i[keep]],
                           self.item_embedding.weight[j[keep]],
                           batch_size=int(keep.sum()))
        total = main + self.reg * reg
        terms = {'main': main, 'reg': reg, 'total': total}
        return total, {k: v.detach() for k, v in terms.items()}


__all__: List[str] = ['MBCGCN']
