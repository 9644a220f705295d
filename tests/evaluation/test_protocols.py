r"""The per-user and per-pair protocols against a brute-force scorer written
here from the formulas (RecBole's, as in the RMBRec authors' metrics.py),
without calling the package:

* a held-out item's rank is the number of *other* candidates (all items but
  the user's training target items) scoring at least as high: ties count
  against it;
* HR@K = 1 if any of the user's held-out items ranks below K; NDCG@K = DCG
  of those over the ideal DCG of min(#held-out, K) items; Recall@K = hits /
  #held-out; Precision@K = hits / K; MRR@K = 1 / (best rank + 1) if a hit;
* averaged over the users that hold out something (per pair: over pairs).

Embeddings are small integers, so every score is exact in fp32 and bf16 and
ties are frequent."""
import math

import pytest
import torch

from rmbrec_pyg.data import build_hetero_data
from rmbrec_pyg.evaluation import EvalConfig, Evaluator, target_ranks

KS = [1, 3, 5]


def _brute(zu, zi, train, labels, per_user):
    masked = {}
    for u, i in train.t().tolist():
        masked.setdefault(u, set()).add(i)
    held = {}
    for u, i in labels.t().tolist():
        held.setdefault(u, []).append(i)
    queries = []  # (ranks of its held-out items, number held out)
    for u, items in held.items():
        s = [float((zu[u] * zi[j]).sum()) for j in range(zi.size(0))]
        ranks = []
        for i in items:
            if i in masked.get(u, set()):
                ranks.append(math.inf)  # masked: never found
                continue
            ranks.append(sum(1 for j in range(zi.size(0)) if j != i
                             and j not in masked.get(u, set())
                             and s[j] >= s[i]))
        if per_user:
            queries.append((ranks, len(items)))
        else:
            queries += [([r], 1) for r in ranks]
    out = {}
    for k in KS:
        vals = {'HR': [], 'NDCG': [], 'Recall': [], 'Precision': [],
                'MRR': []}
        for ranks, n in queries:
            hits = [r for r in ranks if r < k]
            dcg = sum(1 / math.log2(r + 2) for r in hits)
            idcg = sum(1 / math.log2(j + 2) for j in range(min(n, k)))
            vals['HR'].append(1.0 if hits else 0.0)
            vals['NDCG'].append(dcg / idcg)
            vals['Recall'].append(len(hits) / n)
            vals['Precision'].append(len(hits) / k)
            vals['MRR'].append(1 / (min(hits) + 1) if hits else 0.0)
        for m, v in vals.items():
            out[f'{m}@{k}'] = sum(v) / len(v)
    return out


def _case(seed=0, nu=30, ni=40):
    g = torch.Generator().manual_seed(seed)
    zu = torch.randint(-2, 3, (nu, 4), generator=g).float()
    zi = torch.randint(-2, 3, (ni, 4), generator=g).float()
    zi[5:9] = zi[4]        # exact ties between items
    zu[3] = 0.0            # a user that scores every item the same
    train = torch.stack([torch.randint(nu, (150, ), generator=g),
                         torch.randint(ni, (150, ), generator=g)])
    train = torch.unique(train[0] * ni + train[1])
    train = torch.stack([train // ni, train % ni])
    # Several held-out items for most users, none for some, one item held
    # out in both splits, one held-out item also bought in training.
    val, test = [], []
    for u in range(nu - 3):
        items = torch.randperm(ni, generator=g)[:8].tolist()
        n = 1 + u % 4
        val += [(u, i) for i in items[:n]]
        test += [(u, i) for i in items[n:2 * n]]
    test.append((0, val[0][1]))
    val.append((1, int(train[1][train[0] == 1][0])) if (train[0] == 1).any()
               else (1, 0))
    val, test = torch.tensor(val).t(), torch.tensor(test).t()
    val = torch.unique(val[0] * ni + val[1])
    val = torch.stack([val // ni, val % ni])
    with pytest.warns(UserWarning, match='also appear in the training'):
        data = build_hetero_data(nu, ni, {'buy': train}, 'buy', val=val,
                                 test=test)
    return data, zu, zi, train, {'val': val, 'test': test}


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
@pytest.mark.parametrize('candidates', [0, 12])
@pytest.mark.parametrize('protocol', ['user', 'pair'])
def test_protocols_match_brute_force(precision, candidates, protocol):
    data, zu, zi, train, labels = _case()
    cfg = EvalConfig(protocol=protocol, ks=KS, precision=precision,
                     candidates=candidates, clusters=4, batch_size=7)
    got = Evaluator(data, cfg)(zu, zi)
    for split, lab in labels.items():
        want = _brute(zu, zi, train, lab, protocol == 'user')
        assert got[{'val': 'val', 'test': 'test'}[split]].keys() == \
            want.keys()
        for key, value in want.items():
            assert got[split][key] == pytest.approx(value, rel=1e-12), \
                (split, key)


def test_user_and_pair_agree_with_one_heldout_item_per_user():
    data, zu, zi, train, _ = _case()
    one = torch.stack([torch.arange(20), torch.arange(20) + 10])
    store = data['user', 'buy', 'item']
    store.val_edge_label_index = one
    store.test_edge_label_index = one.flip(1)
    user = Evaluator(data, EvalConfig(ks=KS))(zu, zi)
    pair = Evaluator(data, EvalConfig(protocol='pair', ks=KS))(zu, zi)
    assert user['val'] == pair['val'] and user['test'] == pair['test']
    assert user['val_groups'] == pair['val_groups']


def test_differs_with_several_items_and_groups_are_per_user():
    data, zu, zi, train, labels = _case()
    user = Evaluator(data, EvalConfig(ks=KS))(zu, zi)
    pair = Evaluator(data, EvalConfig(protocol='pair', ks=KS))(zu, zi)
    assert user['val']['HR@5'] != pair['val']['HR@5']
    groups = user['val_groups']
    users = labels['val'][0].unique().numel()
    assert groups['n_direct'] == users  # no auxiliary behavior: all direct
    # no pair with auxiliary evidence: counted, and no metrics (not zeros)
    assert groups['n_aux'] == 0 and 'aux' not in groups
    assert groups['direct'] == user['val']


def test_a_model_that_scores_everything_the_same_gets_nothing():
    data, zu, zi, train, labels = _case()
    zu, zi = torch.zeros_like(zu), torch.ones_like(zi)
    for precision in ('fp32', 'bf16'):
        for candidates in (0, 12):
            got = Evaluator(data, EvalConfig(
                ks=KS, precision=precision, candidates=candidates,
                clusters=4))(zu, zi)
            assert all(v == 0.0 for v in got['val'].values())
    ranks = target_ranks(zu, zi, labels['val'])
    assert (ranks == zi.size(0) - 1).all()


def test_ties_are_counted_against_the_item_on_both_paths():
    # Items 4..8 share one embedding: a held-out item among them ranks
    # behind all its twins, on the fp32 and the bf16 path alike.
    g = torch.Generator().manual_seed(3)
    zu = torch.randint(1, 3, (4, 4), generator=g).float()
    zi = torch.randint(-2, 0, (12, 4), generator=g).float()
    zi[4:9] = 5.0
    lab = torch.tensor([[0, 1, 2, 3], [4, 6, 8, 0]])
    data = build_hetero_data(4, 12, {'buy': torch.tensor([[0], [11]])},
                             'buy', val=lab, test=lab)
    want = target_ranks(zu, zi, lab)
    assert want[:3].tolist() == [4, 4, 4]
    for precision in ('fp32', 'bf16'):
        got = Evaluator(data, EvalConfig(protocol='pair', ks=[5],
                                         precision=precision,
                                         candidates=0))(zu, zi)
        assert got['val']['HR@5'] == 0.75  # ranks 4, 4, 4 hit; item 0 not


@pytest.mark.parametrize('k', [5, 10])
def test_metrics_agree_with_torch_geometric(k):
    from torch_geometric.metrics import (LinkPredHitRatio, LinkPredMRR,
                                         LinkPredNDCG, LinkPredPrecision,
                                         LinkPredRecall)
    g = torch.Generator().manual_seed(7)
    nu, ni = 40, 60
    zu, zi = torch.randn(nu, 8, generator=g), torch.randn(ni, 8, generator=g)
    train = torch.stack([torch.randint(nu, (200, ), generator=g),
                         torch.randint(ni, (200, ), generator=g)])
    train = torch.unique(train[0] * ni + train[1])
    train = torch.stack([train // ni, train % ni])
    held = torch.randint(ni, (nu, 4), generator=g)
    keys = torch.unique(torch.arange(nu).repeat_interleave(4) * ni +
                        held.view(-1))
    keys = keys[~torch.isin(keys, train[0] * ni + train[1])]
    labels = torch.stack([keys // ni, keys % ni])
    data = build_hetero_data(nu, ni, {'buy': train}, 'buy', val=labels,
                             test=labels)
    ours = Evaluator(data, EvalConfig(ks=[k], candidates=0))(zu, zi)['val']
    # The same top-k lists, handed to PyG's metrics.
    scores = zu @ zi.t()
    scores[train[0], train[1]] = float('-inf')
    users = labels[0].unique()
    pred = scores[users].topk(k, dim=1).indices
    rows = torch.searchsorted(users, labels[0])
    for name, metric in (('HR', LinkPredHitRatio), ('NDCG', LinkPredNDCG),
                         ('Recall', LinkPredRecall),
                         ('Precision', LinkPredPrecision),
                         ('MRR', LinkPredMRR)):
        m = metric(k)
        m.update(pred, torch.stack([rows, labels[1]]))
        assert ours[f'{name}@{k}'] == pytest.approx(float(m.compute()),
                                                    rel=1e-5), name
