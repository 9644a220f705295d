r"""The exact ranking engine of the evaluation: every held-out item ranked
against all items for its user, with the user's training target items
masked, vectorised over batches of users (fp32, or bf16 with an fp32
certificate), after an optional certified-miss pre-pass
(:mod:`rmbrec_pyg.evaluation.prepass`)."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.evaluation.bonus import ScoreBonus
from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.evaluation.prepass import certified_misses


def target_ranks(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
                 exclude: Optional[ExclusionIndex] = None,
                 batch_size: int = 4096) -> Tensor:
    r"""The 0-based rank of every held-out item among all items for its
    user, by score :math:`\mathbf{z}_u^\top\mathbf{z}_i`, after masking the
    excluded items (a held-out item that is itself excluded gets the worst
    rank, :obj:`num_items`). The reference implementation: one full score
    row per pair. :func:`topk_ranks` is the fast path, with the same ranks.

    Ties count against the held-out item: its rank is the number of *other*
    items that score at least as high, so a model that scores every item
    the same ranks every held-out item last.

    Args:
        user_emb (Tensor): :obj:`[U, F]`.
        item_emb (Tensor): :obj:`[I, F]`.
        label_index (Tensor): :obj:`[2, N]` held-out ``(user, item)`` pairs.
        exclude (ExclusionIndex, optional): Items to mask per user.
        batch_size (int): Pairs scored at once. (default: :obj:`4096`)

    Returns:
        :obj:`[N]` ranks.
    """
    ranks = []
    num_items = item_emb.size(0)
    for start in range(0, label_index.size(1), batch_size):
        users = label_index[0, start:start + batch_size]
        items = label_index[1, start:start + batch_size]
        scores = user_emb[users] @ item_emb.t()
        if exclude is not None:
            row, col = exclude.gather(users)
            scores[row, col] = float('-inf')
        true = scores.gather(1, items.view(-1, 1))
        rank = (scores >= true).sum(1) - 1
        rank = torch.where(torch.isinf(true.view(-1)) & (true.view(-1) < 0),
                           torch.full_like(rank, num_items), rank)
        ranks.append(rank)
    if not ranks:
        return torch.zeros(0, dtype=torch.long, device=user_emb.device)
    return torch.cat(ranks)


# Bound on |s_bf16 - s_fp32| / (||u|| max_i ||v_i||) for scores computed
# from bf16-rounded inputs (unit roundoff 2^-8 each) with a bf16 result
# (2^-8): 2^-7 + 2^-8, plus 5% for the fp32 accumulation.
BF16_REL_ERROR = 1.05 * (2.0**-7 + 2.0**-8)


def resolve_precision(precision: str, device: torch.device) -> str:
    r"""Maps ``'auto'`` to ``'bf16'`` where bf16 matrix products are native
    (CUDA, CPUs with AVX512-BF16 or AMX) and to ``'fp32'`` elsewhere; other
    values pass through."""
    if precision != 'auto':
        return precision
    if device.type == 'cuda':
        return 'bf16'
    cpu = getattr(torch, 'cpu', None)
    for probe in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return 'bf16'
        except RuntimeError:  # pragma: no cover - unusual builds
            pass
    return 'fp32'


# Ranking-time options shared by every batch: items to push below all
# others (but above the excluded ones), e.g. a user's auxiliary items.
_DEMOTE_OFFSET = 1e4


def _masked_scores(user_emb: Tensor, item_t: Tensor, chunk: Tensor,
                   exclude: Optional[ExclusionIndex],
                   demote: Optional[ExclusionIndex] = None,
                   buf: Optional[Tensor] = None) -> Tensor:
    if buf is None or buf.size(0) < chunk.numel():
        s = user_emb[chunk] @ item_t
    else:  # reuse one score buffer: no fresh pages for every batch
        s = torch.mm(user_emb[chunk], item_t, out=buf[:chunk.numel()])
    if isinstance(demote, ScoreBonus):
        row, col, val = demote.gather_values(chunk)
        s[row, col] += val.to(s.dtype)
    elif demote is not None:
        row, col = demote.gather(chunk)
        s[row, col] -= _DEMOTE_OFFSET
    if exclude is not None:
        row, col = exclude.gather(chunk)
        s[row, col] = float('-inf')
    return s


def topk_items(user_emb: Tensor, item_emb: Tensor, users: Tensor, k: int,
               exclude: Optional[ExclusionIndex] = None,
               batch_size: int = 4096, precision: str = 'fp32',
               margin: int = 20,
               demote: Optional[ExclusionIndex] = None
               ) -> Tuple[Tensor, Tensor]:
    r"""The top-:obj:`k` items of every user in :obj:`users` by score
    :math:`\mathbf{z}_u^\top\mathbf{z}_i`, with the excluded items masked,
    computed in batches (one matrix product and one :func:`torch.topk` per
    batch).

    With :obj:`precision='bf16'` the full score matrix is computed in
    bfloat16 (where bf16 matrix products are native), its
    top :obj:`k + margin` candidates are rescored exactly in fp32, and a
    certificate checks each user: if the exact :obj:`k`-th score exceeds the
    largest score any non-candidate could have (its bf16 score plus the
    rounding bound :obj:`BF16_REL_ERROR` :math:`\cdot \|u\| \max_i
    \|v_i\|`), the result is provably the fp32 one; users that fail the
    check are recomputed in fp32. Either way the output equals the fp32
    computation.

    :obj:`demote` lists per user items ranked after all others (but before
    the excluded ones), or is a :class:`~rmbrec_pyg.evaluation.bonus.
    ScoreBonus` whose values are added to the scores of its pairs; either
    needs :obj:`precision='fp32'` (set here).

    Returns:
        :obj:`(items, scores)`, both :obj:`[len(users), k]`; masked slots
        (when a user has fewer than :obj:`k` candidates) have score
        :obj:`-inf`.
    """
    precision = resolve_precision(precision, user_emb.device)
    if precision not in ('fp32', 'bf16'):
        raise ValueError(f"'precision' must be 'fp32', 'bf16' or 'auto' in "
                         f"'topk_items' (got {precision!r})")
    if demote is not None:
        precision = 'fp32'  # the certificate assumes plain scores
    k = min(k, item_emb.size(0))
    items, scores = [], []
    item_t = item_emb.t().contiguous()
    if precision == 'bf16':
        item_t16 = item_t.to(torch.bfloat16)
        user16 = user_emb.to(torch.bfloat16)
        kc = min(k + margin, item_emb.size(0))
        vmax = item_emb.norm(dim=-1).max()
        buf = item_t16.new_empty((min(batch_size, users.numel()),
                                  item_emb.size(0)))
    for start in range(0, users.numel(), batch_size):
        chunk = users[start:start + batch_size]
        if precision == 'fp32':
            top = _masked_scores(user_emb, item_t, chunk, exclude,
                                 demote).topk(k, dim=1)
            items.append(top.indices)
            scores.append(top.values)
            continue
        cand = _masked_scores(user16, item_t16, chunk, exclude,
                              buf=buf).topk(kc, dim=1)
        u = user_emb[chunk]
        exact = (u.unsqueeze(1) * item_emb[cand.indices]).sum(-1)
        exact = exact.masked_fill(torch.isinf(cand.values), float('-inf'))
        top = exact.topk(k, dim=1)
        idx = cand.indices.gather(1, top.indices)
        bound = cand.values[:, -1].float() + BF16_REL_ERROR * u.norm(
            dim=-1) * vmax
        ok = (top.values[:, -1] > bound) | (kc == item_emb.size(0))
        bad = (~ok).nonzero().view(-1)
        if bad.numel() > 0:
            redo = _masked_scores(user_emb, item_t, chunk[bad],
                                  exclude).topk(k, dim=1)
            idx[bad] = redo.indices
            top.values[bad] = redo.values
        items.append(idx)
        scores.append(top.values)
    if not items:
        empty = user_emb.new_zeros((0, k))
        return empty.long(), empty
    return torch.cat(items), torch.cat(scores)


def topk_ranks(user_emb: Tensor, item_emb: Tensor,
               label_index: Dict[str, Tensor], k: int,
               exclude: Optional[ExclusionIndex] = None,
               batch_size: int = 4096,
               precision: str = 'fp32',
               demote: Optional[ExclusionIndex] = None,
               candidates: int = 0,
               clusters: int = 64,
               ) -> Dict[str, Tensor]:
    r"""Ranks of the held-out items of several splits at once, resolved up
    to :obj:`k`: one top-:obj:`(k + 1)` pass over the *union* of the
    splits' users (validation and test share their users in leave-one-out,
    so both cost one pass). An item outside the top :obj:`k` gets rank
    :obj:`k`; inside, its rank is exact under the rule of
    :func:`target_ranks` (ties count against it: the extra candidate tells
    whether a tie reaches past the cut-off). Exact for every metric at
    :math:`K \leq k`. A user's other held-out items stay in its ranking.

    With :obj:`candidates > 0`, :func:`certified_misses` first settles
    the pairs that provably rank at :obj:`k` or worse against a shared set
    of that many candidate items per group of similar users, and only the users with a pair left
    unsettled are ranked in full; the ranks are the same either way (not
    with :obj:`demote`, which disables the pre-pass).

    Args:
        label_index (Dict[str, Tensor]): :obj:`[2, N]` pairs per split.
        k (int): The largest cut-off.
        candidates (int): Size of the pre-pass's candidate sets; :obj:`0`
            ranks every user in full. (default: :obj:`0`)
        clusters (int): User groups of the pre-pass, each with its own
            candidate set. (default: :obj:`64`)

    Returns:
        :obj:`[N]` ranks per split.
    """
    if not label_index:
        return {}
    if candidates > 0 and demote is None:
        settled = certified_misses(user_emb, item_emb, label_index, k,
                                   exclude, candidates, clusters, batch_size)
        open_users = torch.unique(torch.cat(
            [v[0][~settled[s]] for s, v in label_index.items()]))
        rest = {s: torch.isin(v[0], open_users)
                for s, v in label_index.items()}
        ranks = topk_ranks(user_emb, item_emb,
                           {s: v[:, rest[s]] for s, v in label_index.items()},
                           k, exclude, batch_size, precision)
        out = {}
        for s, v in label_index.items():
            r = torch.full((v.size(1), ), k, dtype=torch.long,
                           device=v.device)
            r[rest[s]] = ranks[s]
            out[s] = r
        return out
    users = torch.unique(torch.cat([v[0] for v in label_index.values()]))
    top, top_scores = topk_items(user_emb, item_emb, users, k + 1, exclude,
                                 batch_size, precision, demote=demote)
    out = {}
    for split, index in label_index.items():
        rows = torch.searchsorted(users, index[0])
        scores = top_scores[rows]
        found = (top[rows] == index[1].view(-1, 1)) & torch.isfinite(scores)
        mine = scores.gather(1, found.to(torch.uint8).argmax(1, True))
        # Other listed items scoring at least as high. If all k + 1 listed
        # items do, the count (k) says "outside the top k", as it must:
        # more ties may lie beyond the list.
        ahead = ((scores >= mine) & torch.isfinite(scores)).sum(1) - 1
        out[split] = torch.where(found.any(1), ahead.clamp(max=k),
                                 torch.full_like(ahead, k))
    return out


