r"""RMBRec's two robustness terms for a training loop of your own, as
methods of :class:`~rmbrec_pyg.nn.MultiBehaviorLightGCN`: RRM over a batch
of users (:meth:`~RobustnessTerms.contrastive_loss`) and ORM over one BPR
loss per behavior (:meth:`~RobustnessTerms.sample_behavior_triples`,
:meth:`~RobustnessTerms.behavior_losses`,
:meth:`~RobustnessTerms.robustness_loss`), all from the towers of the
model's last forward."""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.regularizers.base import RegularizerInput


class RobustnessTerms:
    r"""The RRM and ORM methods of
    :class:`~rmbrec_pyg.nn.MultiBehaviorLightGCN`. They read the model's
    :obj:`encoder`, :obj:`num_users`, :obj:`num_items`, :obj:`target`,
    :obj:`edges` (behavior -> training edge_index), :obj:`bought`,
    :obj:`rrm` and :obj:`orm`, and the per-behavior user and item towers
    of its last forward (:obj:`_last`, :obj:`_last_items`)."""
    encoder: torch.nn.Module
    num_users: int
    num_items: int
    target: str
    edges: Dict[str, Tensor]
    bought: Tensor
    rrm: Any
    orm: Any
    _last: Optional[Tensor]
    _last_items: Optional[Tensor]

    def contrastive_loss(self, user_index: Tensor) -> Tensor:
        r"""RMBRec's RRM term (weighted by :obj:`rrm_weight`) over the
        behavior towers of :obj:`user_index`, from the last
        :meth:`get_embedding` (or forward) call."""
        if self._last is None:
            raise RuntimeError('call forward() or get_embedding() first')
        users = self._last[torch.unique(user_index[user_index <
                                                   self.num_users])]
        behaviors = self.encoder.behaviors
        inputs = RegularizerInput(
            user_emb=users, behavior_losses=users.new_zeros(len(behaviors)),
            score_diffs=users.new_zeros(users.size(0), len(behaviors)),
            mask=torch.ones(users.size(0), len(behaviors), dtype=torch.bool,
                            device=users.device),
            target_index=behaviors.index(self.target), behaviors=behaviors)
        return self.rrm.weight * self.rrm(inputs)

    def sample_behavior_triples(self, num: int,
                                generator: Optional[torch.Generator] = None
                                ) -> Dict[str, Tuple[Tensor, Tensor,
                                                     Tensor]]:
        r"""For every behavior, :obj:`num` training edges drawn uniformly
        (users and their positive items) and as many uniform negative items
        (not checked against the user's items, as PyG's recipe samples),
        in the homogeneous numbering (items from :obj:`num_users`):
        ``{behavior: (users, positives, negatives)}`` for
        :meth:`behavior_losses`."""
        device = self.bought.device
        out = {}
        for b in self.encoder.behaviors:
            edges = self.edges[b]
            pick = torch.randint(edges.size(1), (num, ), generator=generator)
            neg = torch.randint(self.num_items, (num, ), generator=generator)
            u, i = edges[:, pick]
            out[b] = (u.to(device), (i + self.num_users).to(device),
                      (neg + self.num_users).to(device))
        return out

    def behavior_losses(self, triples: Dict[str, Tuple[Tensor, Tensor,
                                                       Tensor]]) -> Tensor:
        r"""One BPR loss per behavior (:obj:`[B]`, the encoder's order)
        on each behavior's own embeddings, from the last
        :meth:`get_embedding` (or forward) call: the risks that
        :meth:`robustness_loss` (ORM) makes alike. :obj:`triples` maps
        every behavior to (users, positive items, negative items) in the
        homogeneous numbering (see :meth:`sample_behavior_triples`)."""
        if self._last is None or self._last_items is None:
            raise RuntimeError('call forward() or get_embedding() first')
        missing = [b for b in self.encoder.behaviors if b not in triples]
        if missing:
            raise ValueError(f'no triples for the behaviors {missing}')
        losses = []
        for k, b in enumerate(self.encoder.behaviors):
            u, i, j = triples[b]
            zu = self._last[u, k]
            zi = self._last_items[i - self.num_users, k]
            zj = self._last_items[j - self.num_users, k]
            diff = (zu * zi).sum(-1) - (zu * zj).sum(-1)
            losses.append(torch.nn.functional.softplus(-diff).mean())
        return torch.stack(losses)

    def robustness_loss(self, behavior_losses: Tensor) -> Tensor:
        r"""RMBRec's ORM term (weighted by :obj:`orm_weight`): the
        variance of the per-behavior risks of :meth:`behavior_losses`."""
        from rmbrec_pyg.regularizers.functional import orm
        return self.orm.weight * orm(behavior_losses)
