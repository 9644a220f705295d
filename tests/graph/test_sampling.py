import torch

from rmbrec_pyg.data import edge_index_dict_of
from rmbrec_pyg.graph import BehaviorSampler


def test_sampler(tiny):
    edges = edge_index_dict_of(tiny)
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    s = BehaviorSampler(edges, nu, ni, generator=torch.Generator()
                        .manual_seed(0))
    users = torch.arange(nu)
    pos, neg, mask = s.sample(users)
    assert pos.shape == neg.shape == mask.shape == (nu, 3)
    all_keys = set()
    for k, (b, index) in enumerate(edges.items()):
        keys = set((index[0] * ni + index[1]).tolist())
        all_keys |= keys
        has = torch.zeros(nu, dtype=torch.bool)
        has[index[0]] = True
        assert torch.equal(mask[:, k], has)
        for u in users[mask[:, k]].tolist():
            assert u * ni + int(pos[u, k]) in keys
    for k in range(3):
        for u in users[mask[:, k]].tolist():
            assert u * ni + int(neg[u, k]) not in all_keys


def test_sampler_behavior_negatives_and_seed(tiny):
    edges = edge_index_dict_of(tiny)
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    a = BehaviorSampler(edges, nu, ni, 'behavior',
                        torch.Generator().manual_seed(5)).sample(
                            torch.arange(nu))
    b = BehaviorSampler(edges, nu, ni, 'behavior',
                        torch.Generator().manual_seed(5)).sample(
                            torch.arange(nu))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    buy = edges['buy']
    keys = set((buy[0] * ni + buy[1]).tolist())
    pos, neg, mask = a
    for u in torch.arange(nu)[mask[:, 2]].tolist():
        assert u * ni + int(neg[u, 2]) not in keys


def test_user_without_behavior():
    edges = {'cart': torch.tensor([[0], [1]]),
             'buy': torch.tensor([[0, 1], [0, 2]])}
    s = BehaviorSampler(edges, 3, 5)
    pos, neg, mask = s.sample(torch.tensor([0, 1, 2]))
    assert mask.tolist() == [[True, True], [False, True], [False, False]]
    assert pos[2].tolist() == [0, 0] and neg[2].tolist() == [0, 0]


def test_device_sampler_is_exact_and_uniform(tiny):
    from rmbrec_pyg.graph import DeviceBehaviorSampler
    edges = edge_index_dict_of(tiny)
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    for negatives in ('all', 'behavior'):
        s = DeviceBehaviorSampler(edges, nu, ni, negatives,
                                  generator=torch.Generator().manual_seed(1))
        users = torch.arange(nu).repeat(400)
        pos, neg, mask = s.sample(users)
        every = set()
        per = {}
        for b, index in edges.items():
            per[b] = set((index[0] * ni + index[1]).tolist())
            every |= per[b]
        for k, b in enumerate(edges):
            excluded = every if negatives == 'all' else per[b]
            keys_pos = (users * ni + pos[:, k])[mask[:, k]].tolist()
            keys_neg = (users * ni + neg[:, k])[mask[:, k]].tolist()
            assert all(key in per[b] for key in keys_pos)
            assert not any(key in excluded for key in keys_neg)
        # Uniform over the allowed items of one user (400 draws each).
        u, k = 3, 2
        allowed = [i for i in range(ni) if u * ni + i not in (
            every if negatives == 'all' else per['buy'])]
        draws = neg[users == u, k]
        counts = torch.bincount(draws, minlength=ni)[allowed].float()
        expected = draws.numel() / len(allowed)
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 3 * len(allowed)  # loose: mean df, sd sqrt(2 df)
        assert (counts > 0).float().mean() > 0.9


def test_device_sampler_user_without_behavior():
    from rmbrec_pyg.graph import DeviceBehaviorSampler
    edges = {'cart': torch.tensor([[0], [1]]),
             'buy': torch.tensor([[0, 1], [0, 2]])}
    s = DeviceBehaviorSampler(edges, 3, 5)
    pos, neg, mask = s.sample(torch.tensor([0, 1, 2]))
    assert mask.tolist() == [[True, True], [False, True], [False, False]]
    assert pos[2].tolist() == [0, 0] and neg[2].tolist() == [0, 0]
    assert int(neg[0, 0]) not in (0, 1) and int(neg[1, 1]) != 2
