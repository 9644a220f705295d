r"""The RMBRec training objective of one batch (paper Eq. 10), in one place:

.. math::
    \mathcal{L} = \mathcal{L}_{main} + \sum_r w_r \mathcal{L}_r
    + \lambda_{reg}\mathcal{L}_{L2}

:math:`\mathcal{L}_{main}` is BPR on the fused embeddings with the target
triples, the :math:`\mathcal{L}_r` are the pluggable regularizers (RRM with
:math:`w=\lambda_1`, ORM with :math:`w=\lambda_2`) and :math:`\mathcal{L}_{L2}`
the embedding penalty. Change the loss here; add a term as a
:class:`~rmbrec_pyg.regularizers.Regularizer`."""
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import Module, ModuleDict

from rmbrec_pyg.loss import (MISSING_MODES, behavior_losses, bpr_loss,
                             embedding_l2)
from rmbrec_pyg.regularizers.base import Regularizer, RegularizerInput

EMB_REG_ON = ('propagated', 'base', 'none')


class Objective(Module):
    r"""Computes the loss of a batch of BPR triples per behavior and returns
    :obj:`(total, terms)`, the terms unweighted and detached, by name:
    ``main``, ``gate`` (a learned fusion gate's KL term), ``reg``, one per
    regularizer, ``bpr_<behavior>`` and ``total``.

    Args:
        behaviors (Sequence[str]): The encoder's behaviors, in order.
        target (str): The target behavior.
        regularizers (Mapping[str, Regularizer], optional): Named plug-in
            terms, each weighted by its own :obj:`weight`.
        missing (str): Users without a behavior in a batch: ``'mask'``
            (paper) or ``'filler'`` (authors' code). (default: :obj:`'mask'`)
        emb_reg (float): Weight of the embedding L2 term.
            (default: :obj:`1e-3`)
        emb_reg_on (str): ``'propagated'`` (the batch's propagated
            embeddings of every behavior, authors' code), ``'base'`` (the
            batch's base embeddings) or ``'none'``.
            (default: :obj:`'propagated'`)
        behavior_loss_weight (float): Weight of the sum of per-behavior BPR
            losses in the total (paper and authors' code: 0, they enter
            only through ORM). (default: :obj:`0.0`)
        gate_strength (float): Weight of a learned fusion gate's KL term.
            (default: :obj:`0.0`)
        tower_reg (float): L2 weight on the batch embeddings of the
            encoder's :obj:`target_tower`, when it has one (trained by its
            own BPR on the target triples, term ``tower``).
            (default: :obj:`1e-4`)
        static_shapes (bool): Keep every tensor's shape fixed by the batch
            size (no boolean indexing, no host sync), as a captured CUDA
            graph needs: the regularizers get all batch users and a mask
            (:attr:`RegularizerInput.user_mask`). Equal to the default to
            float tolerance. (default: :obj:`False`)
    """
    def __init__(self, behaviors: Sequence[str], target: str,
                 regularizers: Optional[Mapping[str, Regularizer]] = None,
                 missing: str = 'mask', emb_reg: float = 1e-3,
                 emb_reg_on: str = 'propagated',
                 behavior_loss_weight: float = 0.0,
                 gate_strength: float = 0.0, tower_reg: float = 1e-4,
                 static_shapes: bool = False) -> None:
        super().__init__()
        name = self.__class__.__name__
        if missing not in MISSING_MODES:
            raise ValueError(f"'missing' must be one of {MISSING_MODES} in "
                             f"'{name}' (got {missing!r})")
        if emb_reg_on not in EMB_REG_ON:
            raise ValueError(f"'emb_reg_on' must be one of {EMB_REG_ON} in "
                             f"'{name}' (got {emb_reg_on!r})")
        if target not in behaviors:
            raise ValueError(f"target behavior '{target}' is not among the "
                             f"behaviors {list(behaviors)} in '{name}'")
        self.behaviors = list(behaviors)
        self.target_index = self.behaviors.index(target)
        self.regularizers = ModuleDict(dict(regularizers or {}))
        self.missing = missing
        self.emb_reg = emb_reg
        self.emb_reg_on = emb_reg_on
        self.behavior_loss_weight = behavior_loss_weight
        self.gate_strength = gate_strength
        self.tower_reg = tower_reg
        self.static_shapes = static_shapes

    @property
    def needs_double_backward(self) -> bool:
        return any(r.needs_double_backward
                   for r in self.regularizers.values())

    @property
    def supports_static_shapes(self) -> bool:
        r"""Whether every active term can run with static shapes."""
        return not self.needs_double_backward and all(
            r.supports_static_shapes for r in self.regularizers.values()
            if r.weight != 0)

    def forward(self, model: Module, adj: Mapping[str, Any], users: Tensor,
                pos: Tensor, neg: Tensor, mask: Tensor
                ) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""The loss of one batch.

        Args:
            model (Module): The :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder`
                (or a wrapper of it such as DDP, which is called).
            adj (Mapping): The normalised adjacency of every behavior.
            users (Tensor): :obj:`[N]` the batch's users.
            pos, neg, mask (Tensor): :obj:`[N, B]` positives, negatives and
                whether the user has the behavior (see
                :class:`~rmbrec_pyg.graph.BehaviorSampler`).
        """
        encoder: Any = getattr(model, 'module', model)
        n, t = users.numel(), self.target_index
        bidx = torch.arange(len(self.behaviors), device=users.device)
        w = encoder.fusion_weights()  # None for the plain mean
        # The encoder gathers the batch rows itself. Items: per-behavior
        # positives and negatives, then the target triple's items under every
        # behavior for the fused main loss.
        t_items = torch.cat([pos[:, t], neg[:, t]])
        u, rows = model(adj, users,
                        torch.cat([pos.reshape(-1), neg.reshape(-1), t_items]))
        nb = n * len(self.behaviors)
        q = rows[:2 * nb].view(2 * n, -1, *rows.shape[1:])  # [2N, B, B, F]
        q = q[:, bidx, bidx]  # behavior b's own embedding: [2N, B, F]
        qi, qj = q[:n], q[n:]
        diffs = (u * (qi - qj)).sum(-1)  # [N, B]
        beh = behavior_losses(diffs, mask, self.missing)

        # Main loss: BPR on the fused embeddings with the target triples.
        zu, zi = encoder.fuse(u, rows[2 * nb:], weights=w)
        main_diff = (zu * (zi[:n] - zi[n:])).sum(-1)
        main = bpr_loss(main_diff, torch.zeros_like(main_diff), mask[:, t],
                        self.missing)
        terms: Dict[str, Tensor] = {'main': main}
        total = main
        if self.behavior_loss_weight > 0:
            per = beh if w is None else beh * w * len(self.behaviors)
            total = total + self.behavior_loss_weight * per.sum()
        fusion = encoder.fusion
        if fusion is not None and fusion.gate.requires_grad and \
                self.gate_strength > 0:
            terms['gate'] = fusion.penalty()
            total = total + self.gate_strength * terms['gate']
        if self.emb_reg > 0 and self.emb_reg_on != 'none':
            terms['reg'] = self._l2(encoder, u, qi, qj, users, pos, neg,
                                    mask, w)
            total = total + self.emb_reg * terms['reg']
        if len(self.regularizers) > 0:
            # RRM looks at the batch users with a target item (the users of
            # the target triples, as in the authors' code).
            static = self.static_shapes
            inputs = RegularizerInput(
                user_emb=u if static else u[mask[:, t]], behavior_losses=beh,
                score_diffs=diffs, mask=mask, target_index=t,
                behaviors=self.behaviors,
                params=[encoder.user_embedding.weight,
                        encoder.item_embedding.weight],
                missing=self.missing, behavior_weights=w,
                user_mask=mask[:, t] if static else None)
            for name, term in self.regularizers.items():
                if term.weight == 0:
                    continue
                terms[name] = term(inputs)
                total = total + term.weight * terms[name]
        if encoder.target_tower is not None:
            terms['tower'] = self._tower(encoder, adj, users, pos, neg, mask)
            total = total + terms['tower']
        for i, b in enumerate(self.behaviors):
            terms[f'bpr_{b}'] = beh[i]
        terms['total'] = total
        return total, {k: v.detach() for k, v in terms.items()}

    def _l2(self, encoder: Any, u: Tensor, qi: Tensor, qj: Tensor,
            users: Tensor, pos: Tensor, neg: Tensor, mask: Tensor,
            w: Optional[Tensor]) -> Tensor:
        n, t = users.numel(), self.target_index
        if self.emb_reg_on == 'propagated':
            m = mask.unsqueeze(-1).to(u.dtype)
            if w is not None:  # adaptive: weight each behavior's rows
                m = m * (w / w.max()).sqrt().view(1, -1, 1)
            return embedding_l2(u * m, qi * m, qj * m, batch_size=n)
        return embedding_l2(encoder.user_embedding.weight[users],
                            encoder.item_embedding.weight[pos[:, t]],
                            encoder.item_embedding.weight[neg[:, t]],
                            batch_size=n)

    def _tower(self, encoder: Any, adj: Mapping[str, Any], users: Tensor,
               pos: Tensor, neg: Tensor, mask: Tensor) -> Tensor:
        # The target-only tower: LightGCN's BPR on the target triples plus
        # its light L2 on the batch's base embeddings.
        tower, t = encoder.target_tower, self.target_index
        tu, ti = tower(adj[tower.target])
        u, i, j = users, pos[:, t], neg[:, t]
        diff = (tu[u] * (ti[i] - ti[j])).sum(-1)
        loss = bpr_loss(diff, torch.zeros_like(diff), mask[:, t], 'mask')
        return loss + self.tower_reg * embedding_l2(
            tower.user_embedding.weight[u], tower.item_embedding.weight[i],
            tower.item_embedding.weight[j], batch_size=users.numel())

    def extra_repr(self) -> str:
        return (f"missing='{self.missing}', emb_reg={self.emb_reg}, "
                f"emb_reg_on='{self.emb_reg_on}'")


class ModelObjective(Module):
    r"""The objective of a model that brings its own loss (the baselines of
    :mod:`rmbrec_pyg.nn.baselines`): calls :obj:`model.loss` on the same
    batch as :class:`Objective` and returns :obj:`(total, terms)`. It has no
    regularizers and never runs with static shapes."""
    needs_double_backward = False
    supports_static_shapes = False

    def __init__(self) -> None:
        super().__init__()
        self.regularizers = ModuleDict()
        self.static_shapes = False

    def forward(self, model: Module, adj: Mapping[str, Any], users: Tensor,
                pos: Tensor, neg: Tensor, mask: Tensor
                ) -> Tuple[Tensor, Dict[str, Tensor]]:
        encoder: Any = getattr(model, 'module', model)
        out: Tuple[Tensor, Dict[str, Tensor]] = encoder.loss(
            adj, users, pos, neg, mask)
        return out
