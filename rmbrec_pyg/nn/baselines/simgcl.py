from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rmbrec_pyg.loss import bpr_loss
from rmbrec_pyg.nn.baselines.base import Key, MultiBehaviorBaseline


def info_nce(view1: Tensor, view2: Tensor, temperature: float) -> Tensor:
    r"""InfoNCE between two views of the same rows: row :math:`k` of
    :obj:`view1` against every row of :obj:`view2`, its own row the
    positive, cosine similarities over :obj:`temperature`."""
    v1, v2 = F.normalize(view1, dim=-1), F.normalize(view2, dim=-1)
    logits = v1 @ v2.t() / temperature
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()


class SimGCL(MultiBehaviorBaseline):
    r"""SimGCL from `"Are Graph Augmentations Necessary? Simple Graph
    Contrastive Learning for Recommendation" (SIGIR 2022)
    <https://arxiv.org/abs/2112.08679>`_, a single-behavior baseline: a
    LightGCN over the target graph whose embeddings are the mean of layers
    :math:`1..L` (the layer-0 embeddings left out), trained by BPR plus an
    InfoNCE term between two views made by adding uniform noise to every
    propagated layer,

    .. math::
        \mathbf{e}^{(l)} \leftarrow \mathbf{e}^{(l)} + \epsilon\,
        \mathrm{sign}(\mathbf{e}^{(l)}) \odot
        \frac{\mathbf{u}}{\|\mathbf{u}\|_2},\quad
        \mathbf{u}\sim U(0, 1)^d,

    on the batch's distinct users and distinct positive items:
    :math:`\mathcal{L} = \mathcal{L}_{BPR} + \lambda\mathcal{L}_{cl}
    + \gamma\mathcal{L}_{reg}`.

    Only the target behavior is used; the other behaviors, if any, are
    ignored.

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int): Propagation layers. (default: :obj:`2`)
        eps (float): Noise radius :math:`\epsilon`. (default: :obj:`0.1`)
        cl_weight (float): :math:`\lambda`. (default: :obj:`0.5`)
        temperature (float): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
        reg (float): :math:`\gamma`, on the Frobenius norms of the batch's
            propagated embeddings over the batch size (as the authors'
            SELFRec code). (default: :obj:`1e-4`)
        **kwargs (optional): More arguments of
            :class:`MultiBehaviorBaseline` (:obj:`embedding_dim`,
            :obj:`init_std`, :obj:`sparse_backend`).
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str, num_layers: int = 2,
                 eps: float = 0.1, cl_weight: float = 0.5,
                 temperature: float = 0.2, reg: float = 1e-4,
                 **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target, reg=reg,
                         **kwargs)
        if num_layers < 1:
            raise ValueError(f"'num_layers' must be >= 1 in 'SimGCL' (got "
                             f'{num_layers})')
        if temperature <= 0:
            raise ValueError(f"'temperature' must be positive in 'SimGCL' "
                             f'(got {temperature})')
        self.num_layers, self.eps = num_layers, eps
        self.cl_weight, self.temperature = cl_weight, temperature
        self.reset_parameters()

    def hparams(self) -> Dict[str, Any]:
        return {'num_layers': self.num_layers, 'eps': self.eps,
                'cl_weight': self.cl_weight,
                'temperature': self.temperature}

    def encode(self, adj_dict: Mapping[Key, Any],
               perturb: bool = False) -> Tuple[Tensor, Tensor]:
        r"""The mean of layers :math:`1..L`, with noise on every layer when
        :obj:`perturb`."""
        adj = self.graph(adj_dict, self.target)
        x, layers = self.base(), []
        for _ in range(self.num_layers):
            x = self.conv(x, adj)
            if perturb:
                noise = F.normalize(torch.rand_like(x), dim=-1)
                x = x + self.eps * torch.sign(x) * noise
            layers.append(x)
        out: Tensor = torch.stack(layers).mean(0)
        return self.split(out)

    def forward(self, adj_dict: Mapping[Key, Any]
                ) -> Tuple[Tensor, Tensor]:
        return self.encode(adj_dict)

    def loss(self, adj_dict: Mapping[Key, Any], users: Tensor, pos: Tensor,
             neg: Tensor, mask: Tensor
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        t = self.target_index
        keep = mask[:, t]
        u, i, j = users[keep], pos[keep, t], neg[keep, t]
        zu, zi = self.encode(adj_dict)
        eu, ei, ej = zu[u], zi[i], zi[j]
        main = bpr_loss((eu * ei).sum(-1), (eu * ej).sum(-1))
        reg = (eu.norm() + ei.norm() + ej.norm()) / max(u.numel(), 1)
        terms: Dict[str, Tensor] = {'main': main, 'reg': reg}
        total = main + self.reg * reg
        if self.cl_weight > 0:
            u1, i1 = self.encode(adj_dict, perturb=True)
            u2, i2 = self.encode(adj_dict, perturb=True)
            uu, ii = torch.unique(u), torch.unique(i)
            terms['cl'] = (info_nce(u1[uu], u2[uu], self.temperature) +
                           info_nce(i1[ii], i2[ii], self.temperature))
            total = total + self.cl_weight * terms['cl']
        terms['total'] = total
        return total, {k: v.detach() for k, v in terms.items()}


__all__: List[str] = ['SimGCL', 'info_nce']
