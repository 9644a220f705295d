r"""The certified-miss pre-pass of the exact evaluation: held-out pairs
that provably rank at :math:`K` or worse, settled against a small shared set
of candidate items per group of similar users, before any full ranking."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from rmbrec_pyg.evaluation.exclusion import ExclusionIndex

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

