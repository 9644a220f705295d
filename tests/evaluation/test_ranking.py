import math

import pytest
import torch

from rmbrec_pyg.evaluation import (ExclusionIndex, evaluate, ranking_metrics,
                                   target_ranks, topk_ranks)


def _naive(zu, zi, labels, train, ks):
    hr = {k: 0.0 for k in ks}
    ndcg = {k: 0.0 for k in ks}
    for u, i in labels.t().tolist():
        s = (zu[u] @ zi.t()).clone()
        for tu, ti in train.t().tolist():
            if tu == u:
                s[ti] = -math.inf
        order = torch.argsort(s, descending=True).tolist()
        r = order.index(i)
        for k in ks:
            if r < k:
                hr[k] += 1
                ndcg[k] += 1 / math.log2(r + 2)
    n = labels.size(1)
    out = {}
    for k in ks:
        out[f'HR@{k}'] = hr[k] / n
        out[f'NDCG@{k}'] = ndcg[k] / n
    return out


def test_matches_naive():
    g = torch.Generator().manual_seed(0)
    nu, ni = 30, 50
    zu, zi = torch.randn(nu, 8, generator=g), torch.randn(ni, 8, generator=g)
    train = torch.stack([torch.randint(nu, (200, ), generator=g),
                         torch.randint(ni, (200, ), generator=g)])
    labels = torch.stack([torch.arange(nu),
                          torch.randint(ni, (nu, ), generator=g)])
    ex = ExclusionIndex(train, nu)
    ks = (1, 5, 10)
    expected = _naive(zu, zi, labels, train, ks)
    got = evaluate(zu, zi, labels, ex, ks, batch_size=7)
    for key in expected:
        assert got[key] == pytest.approx(expected[key])
    full = ranking_metrics(target_ranks(zu, zi, labels, ex, batch_size=4), ks)
    for key in expected:
        assert full[key] == pytest.approx(expected[key])


def test_shared_pass_for_two_splits():
    g = torch.Generator().manual_seed(1)
    zu, zi = torch.randn(20, 4, generator=g), torch.randn(40, 4, generator=g)
    val = torch.stack([torch.arange(20), torch.randint(40, (20, ),
                                                       generator=g)])
    test = torch.stack([torch.arange(20).flip(0),
                        torch.randint(40, (20, ), generator=g)])
    ranks = topk_ranks(zu, zi, {'val': val, 'test': test}, 10)
    for split, lab in (('val', val), ('test', test)):
        exact = target_ranks(zu, zi, lab).clamp(max=10)
        assert torch.equal(ranks[split], exact)


def test_hand_metrics():
    ranks = torch.tensor([0, 1, 5, 30])
    m = ranking_metrics(ranks, (2, 10))
    assert m['HR@2'] == 0.5 and m['HR@10'] == 0.75
    assert m['NDCG@2'] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    with pytest.raises(ValueError, match="'k' needs to be a positive"):
        ranking_metrics(ranks, (0, ))


def test_excluded_label_is_a_miss():
    zu, zi = torch.ones(1, 2), torch.ones(3, 2)
    ex = ExclusionIndex(torch.tensor([[0], [1]]), 1)
    assert target_ranks(zu, zi, torch.tensor([[0], [1]]), ex).item() == 3
    assert topk_ranks(zu, zi, {'x': torch.tensor([[0], [1]])}, 3,
                      ex)['x'].item() == 3


def test_bf16_candidates_match_fp32():
    g = torch.Generator().manual_seed(3)
    zu, zi = torch.randn(300, 16, generator=g), torch.randn(500, 16,
                                                            generator=g)
    train = torch.stack([torch.randint(300, (3000, ), generator=g),
                         torch.randint(500, (3000, ), generator=g)])
    ex = ExclusionIndex(train, 300)
    users = torch.arange(300)
    from rmbrec_pyg.evaluation import topk_items
    a_items, a_scores = topk_items(zu, zi, users, 20, ex, batch_size=64)
    b_items, b_scores = topk_items(zu, zi, users, 20, ex, batch_size=64,
                                   precision='bf16', margin=10)
    assert torch.allclose(a_scores, b_scores, atol=1e-5)
    assert (a_items == b_items).float().mean() > 0.99  # only near-ties swap
    with pytest.raises(ValueError, match="'precision' must be"):
        topk_items(zu, zi, users, 5, precision='fp16')


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_certified_pre_pass_gives_the_full_ranks(precision):
    from rmbrec_pyg.evaluation import certified_misses
    g = torch.Generator().manual_seed(4)
    nu, ni = 400, 600
    # Users near a few taste directions, as trained embeddings are.
    taste = torch.randn(6, 16, generator=g)
    zu = taste[torch.randint(6, (nu, ), generator=g)] + 0.5 * torch.randn(
        nu, 16, generator=g)
    zi = torch.randn(ni, 16, generator=g)
    train = torch.stack([torch.randint(nu, (4000, ), generator=g),
                         torch.randint(ni, (4000, ), generator=g)])
    ex = ExclusionIndex(train, nu)
    val = torch.stack([torch.arange(nu), torch.randint(ni, (nu, ),
                                                       generator=g)])
    # The test split: a subset of users, some with excluded items, and a
    # few hits (each user's best item).
    best = (zu @ zi.t()).argmax(1)
    test = torch.stack([torch.arange(0, nu, 2), best[::2]])
    test[1, :20] = train[1, :20]
    test[0, :20] = train[0, :20]
    labels = {'val': val, 'test': test}
    full = topk_ranks(zu, zi, labels, 10, ex, 64, precision)
    fast = topk_ranks(zu, zi, labels, 10, ex, 64, precision,
                      candidates=50, clusters=8)
    for s in labels:
        assert torch.equal(full[s], fast[s])
    settled = certified_misses(zu, zi, labels, 10, ex, 50, 8, 64)
    assert settled['val'].float().mean() > 0.3  # the pre-pass does work
    for s in labels:  # and never settles a pair inside the top 10
        assert (full[s][settled[s]] == 10).all()
    assert (full['test'] < 10).sum() > 0


def test_resolve_precision():
    from rmbrec_pyg.evaluation import resolve_precision
    assert resolve_precision('fp32', torch.device('cpu')) == 'fp32'
    assert resolve_precision('auto', torch.device('cpu')) in ('fp32', 'bf16')
    assert resolve_precision('auto', torch.device('cuda')) == 'bf16'


def test_pre_pass_with_empty_splits_and_few_items():
    g = torch.Generator().manual_seed(5)
    zu, zi = torch.randn(10, 4, generator=g), torch.randn(8, 4, generator=g)
    empty = torch.zeros(2, 0, dtype=torch.long)
    lab = torch.stack([torch.arange(10), torch.randint(8, (10, ),
                                                       generator=g)])
    out = topk_ranks(zu, zi, {'val': empty, 'test': lab}, 5,
                     candidates=4, clusters=50)
    assert out['val'].numel() == 0
    assert torch.equal(out['test'], topk_ranks(zu, zi, {'test': lab}, 5)
                       ['test'])
    assert topk_ranks(zu, zi, {'val': empty}, 5, candidates=4)[
        'val'].numel() == 0
    more = topk_ranks(zu, zi, {'test': lab}, 3, candidates=6, clusters=50)
    assert torch.equal(more['test'], topk_ranks(zu, zi, {'test': lab}, 3)
                       ['test'])
