from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Linear

from rmbrec_pyg.loss import bpr_loss
from rmbrec_pyg.nn.baselines.base import CascadeBaseline, Key, Layers

Coefficients = Union[float, Mapping[str, float]]


def project(origin: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    r"""The part of every row of :obj:`origin` along the same row of
    :obj:`target` (PKEF's shared knowledge), times :obj:`scale`:
    :math:`s\,\frac{\langle \mathbf{o}, \mathbf{t}\rangle}{\|\mathbf{t}\|^2}
    \mathbf{t}`."""
    dot = (origin * target).sum(-1, keepdim=True)
    return scale * dot / (target.pow(2).sum(-1, keepdim=True) + 1e-12) * \
        target


class PKEF(CascadeBaseline):
    r"""PKEF from `"Parallel Knowledge Enhancement based Framework for
    Multi-behavior Recommendation" (CIKM 2023)
    <https://arxiv.org/abs/2308.04807>`_.

    * **Parallel branch:** every behavior propagates the base embeddings on
      its own graph, :math:`\mathbf{h}^{(k+1)} = \hat{A}_b\mathbf{h}^{(k)} +
      \mathbf{h}^{(k)}`, and sums its layers into :math:`\mathbf{P}_b`.
    * **Cascade branch with parallel knowledge fusion:** the behaviors in
      cascade order, each started from the previous one; at every layer the
      part of the parallel branch's layer along the cascade's message
      (:func:`project`, scaled by :obj:`fusion_scale`) is added:
      :math:`\mathbf{c}^{(k+1)} = \hat{A}_b\mathbf{c}^{(k)} +
      \mathbf{c}^{(k)} + \mathrm{proj}(\mathbf{h}_b^{(k+1)},
      \hat{A}_b\mathbf{c}^{(k)})`; the layers sum into
      :math:`\mathbf{C}_b`.
    * **Projection-based multi-expert decoder:** behavior :math:`b` is
      scored by gated experts: :math:`\mathbf{C}_b` itself, and for every
      other behavior :math:`b'` the part of :math:`\mathbf{C}_{b'}` shared
      with :math:`\mathbf{C}_b` (scaled by :obj:`expert_scale`).
    * **Loss:** for every behavior, its coefficient times three times the
      BPR of the decoder plus the BPR of the parallel branch's dot product
      (scores times :obj:`mult`), plus :math:`\gamma/2` times the squared
      norms of the base tables and the gate.

    Differences from the authors' code, so that every score is a dot
    product and the exact full-ranking evaluation applies: the gate sees
    the user only (the code's gate sees the user and the item); and the
    behavior-unique term of the code's decoder loss is left out.

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int or Mapping[str, int]): Layers per behavior.
            (default: :obj:`1`)
        coefficients (float or Mapping[str, float]): Loss weight per
            behavior. (default: :obj:`1.0`)
        reg (float): :math:`\gamma`. (default: :obj:`1e-2`)
        mult (float): Score multiplier. (default: :obj:`300.0`)
        fusion_scale (float): Scale of the fused parallel knowledge.
            (default: :obj:`0.3`)
        expert_scale (float): Scale of the shared experts.
            (default: :obj:`0.01`)
        **kwargs (optional): More arguments of :class:`CascadeBaseline`
            (:obj:`order`) and :class:`MultiBehaviorBaseline`.
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 num_layers: Layers = 1, coefficients: Coefficients = 1.0,
                 reg: float = 1e-2, mult: float = 300.0,
                 fusion_scale: float = 0.3, expert_scale: float = 0.01,
                 **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target,
                         num_layers, reg=reg, **kwargs)
        self.coefficients = coefficients if isinstance(
            coefficients, (int, float)) else dict(coefficients)
        for b in self.order:
            self.coefficient(b)
        self.mult = mult
        self.fusion_scale, self.expert_scale = fusion_scale, expert_scale
        self.gate = Linear(self.embedding_dim, len(self.behaviors))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        torch.nn.init.xavier_uniform_(self.gate.weight)
        torch.nn.init.zeros_(self.gate.bias)

    def coefficient(self, b: str) -> float:
        r"""The loss weight of behavior :obj:`b`."""
        return float(self.per_behavior(self.coefficients, b,
                                       'loss coefficient'))

    def hparams(self) -> Dict[str, Any]:
        return {**super().hparams(), 'coefficients': self.coefficients,
                'mult': self.mult,
                'fusion_scale': self.fusion_scale,
                'expert_scale': self.expert_scale}

    def branches(self, adj_dict: Mapping[Key, Any]
                 ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        r"""The parallel :math:`\mathbf{P}_b` and cascade
        :math:`\mathbf{C}_b` outputs :obj:`[U + I, F]` of every behavior."""
        x0 = self.base()
        parallel, layers = {}, {}
        for b in self.behaviors:
            adj, hs = self.graph(adj_dict, b), [x0]
            for _ in range(self.layer_count(self.num_layers, b)):
                hs.append(self.conv(hs[-1], adj) + hs[-1])
            layers[b] = hs
            parallel[b] = torch.stack(hs).sum(0)
        cascade, ego = {}, x0
        for b in self.order:
            adj, cs = self.graph(adj_dict, b), [ego]
            for k in range(self.layer_count(self.num_layers, b)):
                msg = self.conv(cs[-1], adj)
                cs.append(msg + cs[-1] + project(layers[b][k + 1], msg,
                                                 self.fusion_scale))
            ego = cs[-1] + ego
            cascade[b] = torch.stack(cs).sum(0)
        return parallel, cascade

    def experts(self, rows: Mapping[str, Tensor], src: str,
                gated: bool) -> Tensor:
        r"""The :obj:`[N, B * F]` expert embeddings of behavior
        :obj:`src` from cascade rows (:obj:`gated`: the user side, weighted
        by the gate and :obj:`mult`)."""
        own = rows[src]
        parts = [own] + [project(rows[b], own, self.expert_scale)
                         for b in self.behaviors if b != src]
        if gated:
            w = torch.softmax(self.gate(own), dim=-1) * self.mult
            parts = [p * w[:, k:k + 1] for k, p in enumerate(parts)]
        return torch.cat(parts, dim=-1)

    def forward(self, adj_dict: Mapping[Key, Any]
                ) -> Tuple[Tensor, Tensor]:
        cascade = self.branches(adj_dict)[1]
        users, items = {}, {}
        for b, c in cascade.items():
            users[b], items[b] = self.split(c)
        return (self.experts(users, self.target, True),
                self.experts(items, self.target, False))

    def loss(self, adj_dict: Mapping[Key, Any], users: Tensor, pos: Tensor,
             neg: Tensor, mask: Tensor
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        parallel, cascade = self.branches(adj_dict)
        n = users.numel()
        terms: Dict[str, Tensor] = {}
        total = users.new_zeros((), dtype=self.user_embedding.weight.dtype)
        u_rows = {b: c[users] for b, c in cascade.items()}
        for k, b in enumerate(self.behaviors):
            items = torch.cat([pos[:, k], neg[:, k]]) + self.num_users
            i_rows = {c: cascade[c][items] for c in self.behaviors}
            zu = self.experts(u_rows, b, True)
            zi = self.experts(i_rows, b, False)
            s = (zu.repeat(2, 1) * zi).sum(-1)
            pu, pi = parallel[b][users], parallel[b][items]
            p = (pu.repeat(2, 1) * pi).sum(-1) * self.mult
            term = bpr_loss(s[:n], s[n:], mask[:, k]) + \
                bpr_loss(p[:n], p[n:], mask[:, k])
            terms[f'bpr_{b}'] = term
            total = total + 3.0 * self.coefficient(b) * term
        terms['main'] = terms[f'bpr_{self.target}']
        terms['reg'] = 0.5 * (self.user_embedding.weight.pow(2).sum() +
                              self.item_embedding.weight.pow(2).sum() +
                              self.gate.weight.pow(2).sum())
        total = total + self.reg * terms['reg']
        terms['total'] = total
        return total, {k: v.detach() for k, v in terms.items()}


__all__: List[str] = ['PKEF', 'project']
