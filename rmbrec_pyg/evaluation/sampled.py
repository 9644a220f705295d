r"""Sampled-negative ranking, the protocol of older papers and of RecBole's
``uniN``/``popN``: every held-out item is paired with :math:`N` negatives
drawn for it, and ranked among them (per pair) or among its user's held-out
items and all their negatives (per user). Never the default: its figures
are not comparable with full-ranking ones, and every figure produced this
way is labelled as sampled."""
from typing import Optional

import torch
from torch import Tensor

from rmbrec_pyg.evaluation.exclusion import ExclusionIndex


def draw_negatives(label_index: Tensor, num_items: int, count: int,
                   exclude: ExclusionIndex, heldout: ExclusionIndex,
                   weights: Optional[Tensor] = None, seed: int = 0,
                   chunk: int = 1024) -> Tensor:
    r"""Draws :obj:`count` distinct negatives for every held-out pair,
    without replacement, uniformly or proportionally to :obj:`weights`
    (Gumbel top-:math:`N`), among the items that are neither excluded for
    the user (its training target items) nor held out for it. Seeded: the
    same inputs and :obj:`seed` give the same negatives. On the CPU.

    Returns:
        :obj:`[P, count]` item ids, :obj:`-1` where a user has fewer
        allowed items than :obj:`count`.
    """
    gen = torch.Generator().manual_seed(int(seed))
    log_w = None if weights is None else weights.double().log()
    out = []
    for start in range(0, label_index.size(1), chunk):
        users = label_index[0, start:start + chunk].cpu()
        u = torch.rand(users.numel(), num_items, generator=gen,
                       dtype=torch.float64).clamp_(1e-300, 1 - 1e-16)
        keys = -torch.log(-torch.log(u))
        if log_w is not None:
            keys += log_w
        for index in (exclude, heldout):
            row, col = index.gather(users)
            keys[row, col] = float('-inf')
        top = keys.topk(min(count, num_items), dim=1)
        out.append(torch.where(torch.isfinite(top.values), top.indices, -1))
    if not out:
        return torch.zeros(0, count, dtype=torch.long)
    return torch.cat(out)


def sampled_ranks(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
                  negatives: Tensor, per_user: bool,
                  chunk: int = 4096) -> Tensor:
    r"""The 0-based rank of every held-out item among its negatives
    (:obj:`per_user=False`), or among its user's other held-out items and
    the negatives of all of them (:obj:`per_user=True`). Ties count against
    the held-out item.

    Args:
        label_index (Tensor): :obj:`[2, P]` held-out pairs.
        negatives (Tensor): :obj:`[P, N]` from :func:`draw_negatives`.
    """
    users, items = label_index
    pos = (user_emb[users] * item_emb[items]).sum(-1)
    neg = torch.cat([
        (user_emb[users[s:s + chunk]].unsqueeze(1) *
         item_emb[negatives[s:s + chunk].clamp(min=0)]).sum(-1)
        for s in range(0, users.numel(), chunk)
    ]) if users.numel() else pos.new_zeros(0, negatives.size(1))
    neg = neg.masked_fill(negatives < 0, float('-inf'))
    if not per_user:
        return (neg >= pos.unsqueeze(1)).sum(1)
    # Every (p, q) with the same user: p is ranked against q's negatives,
    # and against q itself when q != p.
    order = torch.argsort(users, stable=True)
    _, inv, size = torch.unique(users[order], return_inverse=True,
                                return_counts=True)
    start = (torch.cumsum(size, 0) - size)[inv]  # group start, sorted order
    h = size[inv]
    dev = users.device
    p = torch.repeat_interleave(torch.arange(users.numel(), device=dev), h)
    offset = torch.arange(p.numel(), device=dev) - \
        torch.repeat_interleave(torch.cumsum(h, 0) - h, h)
    q = order[start[p] + offset]
    p = order[p]
    sorted_neg = neg.sort(dim=1).values
    ahead = torch.zeros_like(users)
    for s in range(0, p.numel(), chunk):
        ps, qs = p[s:s + chunk], q[s:s + chunk]
        below = torch.searchsorted(sorted_neg[qs],
                                   pos[ps].unsqueeze(1).contiguous())
        count = (sorted_neg.size(1) - below.squeeze(1)) + (
            (pos[qs] >= pos[ps]) & (qs != ps)).long()
        ahead.index_add_(0, ps, count)
    return ahead
