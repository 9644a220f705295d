r"""Sampled-negative protocols (``eval.negatives``): seeded, reproducible,
negatives drawn outside the user's training target items and held-out
items, and ranks that match a brute-force count."""
import pytest
import torch

from rmbrec_pyg.data import build_hetero_data
from rmbrec_pyg.evaluation import EvalConfig, Evaluator


def _data(seed=0, nu=25, ni=60):
    g = torch.Generator().manual_seed(seed)
    train = torch.stack([torch.randint(nu, (300, ), generator=g),
                         torch.randint(ni // 2, (300, ), generator=g)])
    keys = torch.unique(train[0] * ni + train[1])
    train = torch.stack([keys // ni, keys % ni])
    held = []
    for u in range(nu):
        free = [i for i in torch.randperm(ni, generator=g).tolist()
                if i not in set(train[1][train[0] == u].tolist())]
        held += [(u, i) for i in free[:1 + u % 3]]
    held = torch.tensor(held).t()
    data = build_hetero_data(nu, ni, {'buy': train}, 'buy', val=held,
                             test=held)
    zu = torch.randint(-2, 3, (nu, 4), generator=g).float()
    zi = torch.randint(-2, 3, (ni, 4), generator=g).float()
    return data, zu, zi, train, held


@pytest.mark.parametrize('kind', ['uniform', 'popularity'])
def test_negatives_are_seeded_and_never_positives(kind):
    data, zu, zi, train, held = _data()
    cfg = EvalConfig(negatives=f'{kind}:9', seed=5)
    a, b = Evaluator(data, cfg), Evaluator(data, EvalConfig(
        negatives=f'{kind}:9', seed=5))
    neg = a.negatives('val')
    assert torch.equal(neg, b.negatives('val'))
    assert a(zu, zi) == b(zu, zi)  # a fixed seed gives identical numbers
    other = Evaluator(data, EvalConfig(negatives=f'{kind}:9', seed=6))
    assert not torch.equal(neg, other.negatives('val'))
    bought = set(map(tuple, train.t().tolist()))
    heldout = set(map(tuple, held.t().tolist()))
    popular = set(train[1].tolist())
    for (u, i), row in zip(held.t().tolist(), neg.tolist()):
        valid = [j for j in row if j >= 0]
        assert i not in valid  # never its own negative
        assert len(set(valid)) == len(valid)  # without replacement
        assert not any((u, j) in bought for j in valid)
        assert not any((u, j) in heldout for j in valid)
        if kind == 'popularity':  # only items bought in training
            assert set(valid) <= popular
        else:
            assert len(valid) == 9


@pytest.mark.parametrize('per_user', [False, True])
def test_sampled_ranks_match_brute_force(per_user):
    data, zu, zi, train, held = _data(1)
    cfg = EvalConfig(negatives='uniform:7', protocol='user' if per_user
                     else 'pair', ks=[1, 3, 5])
    ev = Evaluator(data, cfg)
    neg = ev.negatives('val')
    ranks = ev.ranks(zu, zi, ['val'])['val']
    pairs = held.t().tolist()
    for p, (u, i) in enumerate(pairs):
        s = float(zu[u] @ zi[i])
        rows = [q for q, (v, _) in enumerate(pairs) if v == u] \
            if per_user else [p]
        cands = [j for q in rows for j in neg[q].tolist() if j >= 0]
        if per_user:
            cands += [pairs[q][1] for q in rows if q != p]
        want = sum(1 for j in cands if float(zu[u] @ zi[j]) >= s)
        assert int(ranks[p]) == want, (p, u, i)
    metrics = ev(zu, zi)
    assert 0.0 <= metrics['val']['HR@5'] <= 1.0


def test_sampled_is_labelled():
    assert EvalConfig(negatives='uniform:99').label == \
        'user/sampled uniform:99'
    assert EvalConfig(protocol='pair').label == 'pair/full'
