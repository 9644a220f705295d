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

    trained by BPR on the target triples only, plus L2 on the batch's base
    embeddings and on the transformations (as the authors' code).

    With :obj:`pretrain_epochs > 0` the base embeddings start from a
    LightGCN trained on the first behavior of the cascade, as the authors'
    instructions run it (``GCN.py`` on the first behavior, then
    ``--pretrain 1``): a :class:`~rmbrec_pyg.train.Trainer` first trains
    :meth:`pretrain_loss` alone (BPR on the first behavior's triples and the
    same L2, its own Adam) and keeps the epoch whose embeddings
    (:meth:`pretrain_embedding`) score best on validation (see
    :func:`~rmbrec_pyg.train.pretrain.pretrain_embeddings`).

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int or Mapping[str, int]): Layers per block (each block
            averages its layers :math:`0..L_b`, as LightGCN).
            (default: :obj:`3`)
        reg (float): Weight of the L2 term. (default: :obj:`1e-4`)
        init_std (float, optional): Std of the normal initialisation of the
            embeddings and transformations. (default: :obj:`0.01`)
        pretrain_epochs (int): At most this many epochs of LightGCN
            pre-training on the first behavior; :obj:`0` for none.
            (default: :obj:`0`)
        pretrain_layers (int): Layers of that LightGCN. (default: :obj:`3`)
        **kwargs (optional): More arguments of :class:`CascadeBaseline`
            (:obj:`order`) and :class:`MultiBehaviorBaseline`.
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 num_layers: Layers = 3, reg: float = 1e-4,
                 init_std: Optional[float] = 0.01, pretrain_epochs: int = 0,
                 pretrain_layers: int = 3, **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target,
                         num_layers, init_std=init_std, reg=reg, **kwargs)
        for name, value in (('pretrain_epochs', pretrain_epochs),
                            ('pretrain_layers', pretrain_layers)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 0:
                raise ValueError(f"'{name}' must be an integer >= 0 in "
                                 f"'MBCGCN' (got {value!r})")
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_layers = pretrain_layers
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
        weights = [cast(Linear, lin).weight
                   for maps in (self.user_transform, self.item_transform)
                   for lin in maps.values()]
        return self._bpr(self(adj_dict), self.target_index, users, pos, neg,
                         mask, weights)

    def pretrain_embedding(self, adj_dict: Mapping[Key, Any]
                           ) -> Tuple[Tensor, Tensor]:
        r"""The pre-training LightGCN's user and item embeddings: the mean of
        layers :math:`0..L` over the first behavior's graph."""
        adj = self.graph(adj_dict, self.order[0])
        h = total = self.base()
        for _ in range(self.pretrain_layers):
            h = self.conv(h, adj)
            total = total + h
        return self.split(total / (self.pretrain_layers + 1))

    def pretrain_loss(self, adj_dict: Mapping[Key, Any], users: Tensor,
                      pos: Tensor, neg: Tensor, mask: Tensor
                      ) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""The pre-training loss of one batch (same arguments as
        :meth:`loss`): BPR of :meth:`pretrain_embedding` on the first
        behavior's triples, plus the L2 term."""
        return self._bpr(self.pretrain_embedding(adj_dict),
                         self.behaviors.index(self.order[0]), users, pos,
                         neg, mask, [])

    def _bpr(self, z: Tuple[Tensor, Tensor], column: int, users: Tensor,
             pos: Tensor, neg: Tensor, mask: Tensor, weights: List[Tensor]
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        # BPR on one behavior's column of the batch, plus L2 on the batch's
        # base embeddings and on `weights`, divided by the batch size.
        zu, zi = z
        keep = mask[:, column]
        u, i, j = users, pos[:, column], neg[:, column]
        main = bpr_loss((zu[u] * zi[i]).sum(-1), (zu[u] * zi[j]).sum(-1),
                        keep)
        reg = embedding_l2(self.user_embedding.weight[u[keep]],
                           self.item_embedding.weight[i[keep]],
                           self.item_embedding.weight[j[keep]], *weights,
                           batch_size=int(keep.sum()))
        total = main + self.reg * reg
        terms = {'main': main, 'reg': reg, 'total': total}
        return total, {k: v.detach() for k, v in terms.items()}

    def hparams(self) -> Dict[str, Any]:
        return {**super().hparams(), 'pretrain_epochs': self.pretrain_epochs,
                'pretrain_layers': self.pretrain_layers}


__all__: List[str] = ['MBCGCN']
