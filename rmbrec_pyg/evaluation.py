r"""Full-ranking leave-one-out evaluation: HR@K and NDCG@K, vectorised over
batches of held-out pairs, with the training target items masked."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor


class ExclusionIndex:
    r"""Per-user item lists in CSR form (e.g. the training target items), to
    mask out of a ranking in bulk.

    Args:
        edge_index (Tensor): :obj:`[2, E]` ``(user, item)`` pairs.
        num_users (int): Number of users.
    """
    def __init__(self, edge_index: Tensor, num_users: int) -> None:
        order = torch.argsort(edge_index[0], stable=True)
        self.col = edge_index[1][order]
        self.rowptr = torch.cat([
            torch.zeros(1, dtype=torch.long, device=edge_index.device),
            torch.bincount(edge_index[0], minlength=num_users).cumsum(0)
        ])

    def to(self, device: torch.device) -> 'ExclusionIndex':
        self.col = self.col.to(device)
        self.rowptr = self.rowptr.to(device)
        return self

    def gather(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns :obj:`(row, col)`: for every position :obj:`k` of
        :obj:`users`, one entry :obj:`(k, item)` per excluded item."""
        start = self.rowptr[users]
        deg = self.rowptr[users + 1] - start
        row = torch.repeat_interleave(
            torch.arange(users.numel(), device=users.device), deg)
        first = torch.repeat_interleave(start - (deg.cumsum(0) - deg), deg)
        pos = torch.arange(row.numel(), device=users.device) + first
        return row, self.col[pos]


def target_ranks(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
                 exclude: Optional[ExclusionIndex] = None,
                 batch_size: int = 4096) -> Tensor:
    r"""The 0-based rank of every held-out item among all items for its
    user, by score :math:`\mathbf{z}_u^\top\mathbf{z}_i`, after masking the
    excluded items (a held-out item that is itself excluded gets the worst
    rank).
Ties are counted in the item's favour. See :func:`topk_ranks` for the
    faster path used in training.

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
        rank = (scores > true).sum(1)
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
    if demote is not None:
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
    bfloat16 (about 2.7x the fp32 throughput on CPUs with AVX512-BF16), its
    top :obj:`k + margin` candidates are rescored exactly in fp32, and a
    certificate checks each user: if the exact :obj:`k`-th score exceeds the
    largest score any non-candidate could have (its bf16 score plus the
    rounding bound :obj:`BF16_REL_ERROR` :math:`\cdot \|u\| \max_i
    \|v_i\|`), the result is provably the fp32 one; users that fail the
    check are recomputed in fp32. Either way the output equals the fp32
    computation.

    :obj:`demote` lists per user items ranked after all others (but before
    the excluded ones); it needs :obj:`precision='fp32'`.

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


# Relative bound on the difference between two fp32 evaluations of the same
# 64-d dot product (summation order): certified misses must beat the held-out
# item by more than this times ||u|| max_i ||v_i||.
FP32_SLACK = 1e-5


def cluster_users(user_emb: Tensor, clusters: int, iterations: int = 5
                  ) -> Tuple[Tensor, Tensor]:
    r"""Spherical k-means of user embeddings, deterministic (the first
    centroids are evenly spaced users; no random state is used).

    Returns:
        :obj:`(assignment [U], centroids [C, F])`.
    """
    x = torch.nn.functional.normalize(user_emb, dim=-1)
    c = min(clusters, x.size(0))
    first = torch.linspace(0, x.size(0) - 1, c, device=x.device).long()
    centroids = x[first]
    assign = (x @ centroids.t()).argmax(1)
    for _ in range(iterations):
        total = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = total.norm(dim=-1) == 0
        total[empty] = centroids[empty]
        centroids = torch.nn.functional.normalize(total, dim=-1)
        assign = (x @ centroids.t()).argmax(1)
    return assign, centroids


def _by_group(group: Tensor, num_groups: int) -> Tuple[Tensor, List[int]]:
    # Positions sorted by group (stable: ascending within a group) and the
    # group boundaries: group g is order[bounds[g]:bounds[g + 1]].
    order = torch.argsort(group, stable=True)
    ends = torch.bincount(group, minlength=num_groups).cumsum(0).tolist()
    return order, [0] + ends


@torch.no_grad()
def certified_misses(user_emb: Tensor, item_emb: Tensor,
                     label_index: Dict[str, Tensor], k: int,
                     exclude: Optional[ExclusionIndex] = None,
                     candidates: int = 512, clusters: int = 64,
                     batch_size: int = 4096) -> Dict[str, Tensor]:
    r"""Which held-out pairs provably rank at :obj:`k` or worse, found
    cheaply. Users are grouped by :func:`cluster_users`; each group gets the
    :obj:`candidates` items its centroid scores highest, and every pair's
    exact score is compared with its group's candidates only. When at least
    :obj:`k` candidates that are not excluded for the user score higher (by
    more than the fp32 rounding bound :obj:`FP32_SLACK`), the pair ranks
    :obj:`k` or worse whatever the other items score. Pairs whose item is
    itself excluded are misses too.

    Most held-out pairs of a trained model are misses, so
    :func:`topk_ranks` only ranks the rest in full.

    Returns:
        Per split, an :obj:`[N]` boolean mask, :obj:`True` where the pair is
        a certain miss.
    """
    device = user_emb.device
    num_items = item_emb.size(0)
    m = min(candidates, num_items)
    users = torch.unique(torch.cat([v[0] for v in label_index.values()]))
    out = {s: torch.zeros(v.size(1), dtype=torch.bool, device=device)
           for s, v in label_index.items()}
    if users.numel() == 0 or m < k:
        return out
    assign, centroids = cluster_users(user_emb[users], clusters)
    cand = (centroids @ item_emb.t()).topk(m, dim=1).indices  # [C, m]
    slack = FP32_SLACK * item_emb.norm(dim=-1).max()
    num_groups = cand.size(0)
    # Per split: each label's row among `users`, and the labels by group.
    rows = {s: torch.searchsorted(users, v[0])
            for s, v in label_index.items()}
    true = {s: (user_emb[v[0]] * item_emb[v[1]]).sum(-1) + slack *
            user_emb[v[0]].norm(dim=-1) for s, v in label_index.items()}
    labels_by_group = {s: _by_group(assign[r], num_groups)
                       for s, r in rows.items()}
    members, bounds = _by_group(assign, num_groups)
    pos = torch.full((num_items, ), -1, dtype=torch.long, device=device)
    arange_m = torch.arange(m, device=device)
    for g in range(num_groups):
        group = members[bounds[g]:bounds[g + 1]]  # rows of `users`, ascending
        if group.numel() == 0:
            continue
        pos[cand[g]] = arange_m
        cand_t = item_emb[cand[g]].t()
        sel = {s: order[b[g]:b[g + 1]]
               for s, (order, b) in labels_by_group.items()}
        for start in range(0, group.numel(), batch_size):
            chunk = group[start:start + batch_size]
            ids = users[chunk]
            sc = user_emb[ids] @ cand_t
            if exclude is not None:
                row, col = exclude.gather(ids)
                p = pos[col]
                keep = p >= 0
                sc[row[keep], p[keep]] = float('-inf')
            for s, v in label_index.items():
                idx = sel[s]
                if idx.numel() == 0:
                    continue
                r = rows[s][idx]
                inside = (r >= chunk[0]) & (r <= chunk[-1])
                idx, r = idx[inside], r[inside]
                if idx.numel() == 0:
                    continue
                local = torch.searchsorted(chunk, r)
                above = (sc[local] > true[s][idx].view(-1, 1)).sum(1)
                out[s][idx] = above >= k
        pos[cand[g]] = -1
    if exclude is not None:
        # A held-out item the ranking masks can never be found.
        for s, v in label_index.items():
            row, col = exclude.gather(v[0])
            hit = col == v[1][row]
            out[s][row[hit]] = True
    return out


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
    to :obj:`k`: one top-:obj:`k` pass over the *union* of the splits'
    users (validation and test share their users in leave-one-out, so both
    cost one pass). An item outside the top :obj:`k` gets rank :obj:`k`,
    which is exact for HR@K and NDCG@K with :math:`K \leq k`.

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
    top, top_scores = topk_items(user_emb, item_emb, users, k, exclude,
                                 batch_size, precision, demote=demote)
    out = {}
    for split, index in label_index.items():
        rows = torch.searchsorted(users, index[0])
        found = (top[rows] == index[1].view(-1, 1)) & torch.isfinite(
            top_scores[rows])
        first = found.to(torch.uint8).argmax(1)
        out[split] = torch.where(found.any(1), first,
                                 torch.full_like(first, k))
    return out


def ranking_metrics(ranks: Tensor, ks: Sequence[int] = (10, 20),
                    mask: Optional[Tensor] = None) -> Dict[str, float]:
    r"""HR@K (share of held-out pairs ranked in the top :math:`K`) and
    NDCG@K (:math:`1/\log_2(\mathrm{rank}+2)` for hits) for every
    :math:`K`, averaged over the pairs (or the pairs where :obj:`mask`)."""
    for k in ks:
        if not isinstance(k, int) or k <= 0:
            raise ValueError(f"'k' needs to be a positive integer in "
                             f"'ranking_metrics' (got {k})")
    if mask is not None:
        ranks = ranks[mask]
    out: Dict[str, float] = {}
    if ranks.numel() == 0:
        for k in ks:
            out[f'HR@{k}'] = 0.0
            out[f'NDCG@{k}'] = 0.0
        return out
    r = ranks.to(torch.float64)
    vals = []
    for k in ks:
        hit = r < k
        vals.append(hit.double().mean())
        vals.append(torch.where(hit, 1.0 / torch.log2(r + 2.0),
                                torch.zeros_like(r)).mean())
    host = torch.stack(vals).tolist()  # one device sync
    for j, k in enumerate(ks):
        out[f'HR@{k}'] = host[2 * j]
        out[f'NDCG@{k}'] = host[2 * j + 1]
    return out


@torch.no_grad()
def evaluate(user_emb: Tensor, item_emb: Tensor, label_index: Tensor,
             exclude: Optional[ExclusionIndex] = None,
             ks: Sequence[int] = (10, 20),
             batch_size: int = 4096) -> Dict[str, float]:
    r"""Full-ranking HR@K / NDCG@K of held-out pairs (see
    :func:`target_ranks` and :func:`ranking_metrics`)."""
    label_index = label_index.to(user_emb.device)
    ranks = topk_ranks(user_emb, item_emb, {'x': label_index}, max(ks),
                       exclude, batch_size)['x']
    return ranking_metrics(ranks, ks)


def aux_evidence_mask(label_index: Tensor, aux_index: List[Tensor],
                      num_items: int) -> Tensor:
    r"""For every held-out pair, whether the same (user, item) pair appears
    in any auxiliary behavior's training edges (:obj:`True`: the purchase
    has auxiliary evidence; :obj:`False`: a direct target pair)."""
    keys = label_index[0] * num_items + label_index[1]
    if not aux_index:
        return torch.zeros_like(keys, dtype=torch.bool)
    aux = torch.unique(torch.cat([i[0] * num_items + i[1]
                                  for i in aux_index]))
    return torch.isin(keys, aux)


def group_metrics(ranks: Tensor, has_aux: Tensor,
                  ks: Sequence[int]) -> Dict[str, Any]:
    r"""Metrics for all pairs, pairs with auxiliary evidence and direct
    target pairs, with the group sizes."""
    return {'aux': ranking_metrics(ranks, ks, has_aux),
            'direct': ranking_metrics(ranks, ks, ~has_aux),
            'n_aux': int(has_aux.sum()), 'n_direct': int((~has_aux).sum())}


def heldout_metrics(user_emb: Tensor, item_emb: Tensor,
                    labels: Dict[str, Tensor],
                    exclude: Optional[ExclusionIndex],
                    has_aux: Dict[str, Tensor], ks: Sequence[int],
                    batch_size: int = 4096,
                    precision: str = 'fp32',
                    demote: Optional[ExclusionIndex] = None,
                    candidates: int = 0, clusters: int = 64
                    ) -> Dict[str, Any]:
    r"""Metrics of every held-out split (one shared ranking pass, see
    :func:`topk_ranks`), plus ``'<split>_groups'`` (:func:`group_metrics`).
    """
    ranks = topk_ranks(user_emb, item_emb, labels, max(ks), exclude,
                       batch_size, precision, demote, candidates, clusters)
    out: Dict[str, Any] = {}
    for s, r in ranks.items():
        out[s] = ranking_metrics(r, ks)
        out[f'{s}_groups'] = group_metrics(r, has_aux[s], ks)
    return out
