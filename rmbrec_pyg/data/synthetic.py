r"""A seeded synthetic multi-behavior generator with controllable alignment.

Users and items get latent factors; a user's preference for an item is
:math:`s_{ui} = \gamma\, \mathbf{u}^\top\mathbf{v}_i / \sqrt{d} + \pi_i` with
an item popularity :math:`\pi_i`. Target pairs are drawn per user without
replacement from :math:`\mathrm{softmax}(s_u)` (Gumbel top-k). Each user's
target pairs are split leave-one-out (one test pair, one validation pair, the
rest training), or leave-:math:`n`-out with ``heldout_per_user``.

Every auxiliary behavior :math:`b` is described by

* ``bar``: the share of target pairs (train + held-out) that :math:`b`
  also contains (its BAR, paper Eq. 11);
* ``volume``: the mean number of *extra* non-target edges per user;
* ``noise``: the share of those extra edges that are uniformly random
  (``1.0`` is a pure-noise behavior); the rest follow the user's preference
  and so carry target signal.

``direct_target`` is the share of training target pairs that no auxiliary
behavior contains (DT); ``heldout_direct`` is the same share for the
validation/test pairs (by default equal to ``direct_target``; setting it to
``1.0`` gives the *direct-purchase shift* scenario, where held-out purchases
have no auxiliary evidence at all).
"""
import math
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.dataset import BaseMultiBehaviorDataset
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.hetero import build_hetero_data
from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys

DEFAULT_AUX: Dict[str, Dict[str, float]] = {
    'view': {'bar': 0.6, 'volume': 12.0, 'noise': 0.3},
    'cart': {'bar': 0.35, 'volume': 3.0, 'noise': 0.2},
}


def _gumbel(shape: tuple, gen: torch.Generator) -> Tensor:
    u = torch.rand(shape, generator=gen).clamp_(1e-12, 1 - 1e-12)
    return -torch.log(-torch.log(u))


def _first_k_per_row(order: Tensor, counts: Tensor) -> Tensor:
    # order: [U, K] item ids ranked per user; keep the first counts[u].
    k = order.size(1)
    keep = torch.arange(k).unsqueeze(0) < counts.clamp(max=k).unsqueeze(1)
    rows = torch.arange(order.size(0)).unsqueeze(1).expand_as(order)
    return torch.stack([rows[keep], order[keep]])


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"'{name}' must lie in [0, 1] in "
                          f"'SyntheticMultiBehaviorDataset' (got {value})")


def generate_multi_behavior(
    num_users: int = 1500,
    num_items: int = 800,
    aux: Optional[Mapping[str, Mapping[str, float]]] = None,
    target: str = 'buy',
    target_per_user: float = 8.0,
    direct_target: float = 0.2,
    heldout_direct: Optional[float] = None,
    heldout_per_user: int = 1,
    direct_users: float = 0.0,
    embedding_dim: int = 16,
    sharpness: float = 2.5,
    popularity: float = 0.5,
    seed: int = 0,
) -> HeteroData:
    r"""Generates a multi-behavior :class:`HeteroData` (see the module
    docstring for the model). Deterministic for a given :obj:`seed`.

    Args:
        num_users (int): Number of users. (default: :obj:`1500`)
        num_items (int): Number of items. (default: :obj:`800`)
        aux (Mapping[str, Mapping[str, float]], optional): Auxiliary
            behaviors, each ``{'bar': .., 'volume': .., 'noise': ..}``.
            (default: ``view`` and ``cart`` as in :obj:`DEFAULT_AUX`)
        target (str): Name of the target behavior. (default: :obj:`'buy'`)
        target_per_user (float): Mean target pairs per user, held-out pairs
            included (at least :math:`2n + 1` each for :math:`n`
            :obj:`heldout_per_user`). (default: :obj:`8.0`)
        direct_target (float): Share of training target pairs without any
            auxiliary edge. (default: :obj:`0.2`)
        heldout_direct (float, optional): Same for validation/test pairs.
            (default: :obj:`None`, i.e. :obj:`direct_target`)
        heldout_per_user (int): Target pairs every user holds out in each of
            validation and test (leave-:math:`n`-out; real logs and the
            paper's TMall split hold out several). (default: :obj:`1`)
        direct_users (float): Share of users who buy directly: none of
            their target pairs (training and held out) is in an auxiliary
            behavior, though they still view and cart other items.
            (default: :obj:`0.0`)
        embedding_dim (int): Latent dimension. (default: :obj:`16`)
        sharpness (float): Scale of the latent preference. (default: :obj:`2.5`)
        popularity (float): Std of the item popularity term.
            (default: :obj:`0.5`)
        seed (int): Random seed. (default: :obj:`0`)
    """
    aux = DEFAULT_AUX if aux is None else aux
    if num_users < 1 or num_items < 10:
        raise ConfigError(f"'SyntheticMultiBehaviorDataset' needs at least 1 "
                          f'user and 10 items (got {num_users}, {num_items})')
    if target in aux:
        raise ConfigError(f"auxiliary behavior named like the target "
                          f"'{target}' in 'SyntheticMultiBehaviorDataset'")
    heldout_direct = direct_target if heldout_direct is None else heldout_direct
    if heldout_per_user < 1:
        raise ConfigError(f"'heldout_per_user' must be >= 1 in "
                          f"'SyntheticMultiBehaviorDataset' (got "
                          f'{heldout_per_user})')
    _check_unit('direct_target', direct_target)
    _check_unit('direct_users', direct_users)
    _check_unit('heldout_direct', heldout_direct)
    gen = torch.Generator().manual_seed(int(seed))

    user_f = torch.randn(num_users, embedding_dim, generator=gen)
    item_f = torch.randn(num_items, embedding_dim, generator=gen)
    pop = popularity * torch.randn(num_items, generator=gen)
    logits = sharpness * user_f @ item_f.t() / math.sqrt(embedding_dim) + pop

    # Target pairs: Gumbel top-k = sampling without replacement.
    n, least = heldout_per_user, 2 * heldout_per_user + 1
    k_max = max(least, min(num_items // 4, int(4 * target_per_user)))
    counts = least + torch.poisson(
        torch.full((num_users, ), max(float(target_per_user) - least, 0.0)),
        generator=gen).long()
    order = (logits + _gumbel(logits.shape, gen)).topk(k_max, dim=1).indices
    # Shuffle each user's picks so that the held-out ones are random picks.
    perm = torch.rand(num_users, k_max, generator=gen)
    perm = perm.masked_fill(
        torch.arange(k_max).unsqueeze(0) >= counts.clamp(max=k_max)
        .unsqueeze(1), 2.0).argsort(dim=1)
    order = order.gather(1, perm)
    counts = counts.clamp(max=k_max)
    # The last n picks are test, the n before them validation.
    rows = torch.arange(num_users).repeat_interleave(n)
    back = torch.arange(n, 0, -1).repeat(num_users)
    test = torch.stack([rows, order[rows, counts[rows] - back]])
    val = torch.stack([rows, order[rows, counts[rows] - n - back]])
    train = _first_k_per_row(order, counts - 2 * n)

    all_target = torch.cat([train, val, test], dim=1)
    n_train = train.size(1)
    direct_p = torch.full((all_target.size(1), ), float(heldout_direct))
    direct_p[:n_train] = direct_target
    is_direct = torch.rand(direct_p.shape, generator=gen) < direct_p
    if direct_users > 0:  # users who buy without auxiliary behavior
        direct_user = torch.rand(num_users, generator=gen) < direct_users
        is_direct |= direct_user[all_target[0]]
    target_keys = pair_keys(all_target, num_items)

    edges: Dict[str, Tensor] = {}
    keep_share = 1.0 - direct_target
    for name, spec in aux.items():
        bar = float(spec.get('bar', 0.0))
        volume = float(spec.get('volume', 0.0))
        noise = float(spec.get('noise', 0.0))
        _check_unit(f'aux.{name}.bar', bar)
        _check_unit(f'aux.{name}.noise', noise)
        if volume < 0:
            raise ConfigError(f"'aux.{name}.volume' must be >= 0 in "
                              f"'SyntheticMultiBehaviorDataset' (got {volume})")
        # Target pairs that b also contains, so that BAR(b) ~ bar overall.
        p_in = min(1.0, bar / keep_share) if keep_share > 0 else 0.0
        take = (~is_direct) & (torch.rand(is_direct.shape, generator=gen)
                               < p_in)
        parts = [all_target[:, take]]
        # Extra edges: preference-driven or uniformly random, never a
        # target pair (so that BAR stays what was asked for).
        n_extra = torch.poisson(torch.full((num_users, ), volume),
                                generator=gen).long()
        n_noise = torch.binomial(n_extra.float(),
                                 torch.full((num_users, ), noise),
                                 generator=gen).long()
        n_pref = n_extra - n_noise
        k_extra = int(min(num_items, max(1, int(n_extra.max()) * 2 + 8)))
        pref = (logits + _gumbel(logits.shape, gen)).topk(k_extra,
                                                          dim=1).indices
        rand = torch.rand(num_users, num_items, generator=gen).topk(
            k_extra, dim=1).indices
        for cand, cnt in ((pref, n_pref), (rand, n_noise)):
            pairs = _first_k_per_row(cand, cnt)
            keys = pair_keys(pairs, num_items)
            parts.append(pairs[:, ~torch.isin(keys, target_keys)])
        index = torch.cat(parts, dim=1)
        edges[name] = keys_to_pairs(torch.unique(pair_keys(index, num_items)),
                                    num_items)
    edges[target] = train
    return build_hetero_data(num_users, num_items, edges, target, val=val,
                             test=test, source='<synthetic>')


class SyntheticMultiBehaviorDataset(BaseMultiBehaviorDataset):
    r"""The synthetic multi-behavior dataset of
    :func:`generate_multi_behavior`, as an :class:`InMemoryDataset`.

    Its defaults are the built-in dataset of ``make demo``: 1,500 users,
    800 items, behaviors ``view``, ``cart`` and ``buy``, small enough to
    train in about a minute on 2 CPU cores, and built so that the auxiliary
    behaviors carry target signal.

    Args:
        **kwargs: Passed to :func:`generate_multi_behavior`.
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied once after generation.
    """
    def __init__(self, transform: Optional[Any] = None,
                 pre_transform: Optional[Any] = None,
                 **kwargs: Any) -> None:
        super().__init__(None, transform)
        if 'aux' in kwargs and kwargs['aux'] is not None:
            kwargs['aux'] = {k: dict(v) for k, v in kwargs['aux'].items()}
        self.kwargs = kwargs
        data = generate_multi_behavior(**kwargs)
        if pre_transform is not None:
            data = pre_transform(data)
        self.set_graph(data)


#: Sizes of the full Taobao dataset of the paper (Table 4).
TAOBAO_SIZE: Dict[str, Any] = {
    'num_users': 48749, 'num_items': 39493,
    'edges': {'view': 1548162, 'cart': 193747, 'buy': 259771},
}


def random_multi_behavior(num_users: int, num_items: int,
                          edges: Mapping[str, int], target: str = 'buy',
                          seed: int = 0) -> HeteroData:
    r"""A graph of a given size with uniformly random edges, for timing
    (e.g. :obj:`TAOBAO_SIZE`). The target's count includes one validation
    and one test pair per user, as in leave-one-out."""
    gen = torch.Generator().manual_seed(seed)
    out: Dict[str, Tensor] = {}
    total = num_users * num_items
    for b, count in edges.items():
        count = min(int(count), total)
        keys = torch.unique(torch.randint(total, (int(count * 1.02) + 16, ),
                                          generator=gen))
        keys = keys[torch.randperm(keys.numel(), generator=gen)[:count]]
        out[b] = keys_to_pairs(keys, num_items)
    if target not in out:
        raise ConfigError(f"target '{target}' not among {list(edges)}")
    rows = torch.arange(num_users)
    val = torch.stack([rows, torch.randint(num_items, (num_users, ),
                                           generator=gen)])
    test = torch.stack([rows, torch.randint(num_items, (num_users, ),
                                            generator=gen)])
    n_train = max(out[target].size(1) - 2 * num_users, 1)
    out[target] = out[target][:, :n_train]
    return build_hetero_data(num_users, num_items, out, target, val=val,
                             test=test, source='<random>')


class RandomMultiBehaviorDataset(BaseMultiBehaviorDataset):
    r"""The uniformly random graph of :func:`random_multi_behavior`, of a
    given size times :obj:`scale` (users, items and edges), as an
    :class:`InMemoryDataset`: for timing at scale (default: the size of
    full Taobao, :obj:`TAOBAO_SIZE`).

    Args:
        num_users (int): Users at scale 1.
        num_items (int): Items at scale 1.
        edges (Mapping[str, int]): Edges per behavior at scale 1.
        scale (float): Multiplies users, items and edges.
            (default: :obj:`1.0`)
        target (str): The target behavior. (default: :obj:`'buy'`)
        seed (int): Random seed. (default: :obj:`0`)
        transform (callable, optional): Applied on every access.
    """
    def __init__(self, num_users: int = TAOBAO_SIZE['num_users'],
                 num_items: int = TAOBAO_SIZE['num_items'],
                 edges: Optional[Mapping[str, int]] = None,
                 scale: float = 1.0, target: str = 'buy', seed: int = 0,
                 transform: Optional[Any] = None) -> None:
        super().__init__(None, transform)
        edges = dict(edges or TAOBAO_SIZE['edges'])
        self.scale = scale
        self.set_graph(random_multi_behavior(
            int(num_users * scale), int(num_items * scale),
            {b: int(n * scale) for b, n in edges.items()}, target, seed))
