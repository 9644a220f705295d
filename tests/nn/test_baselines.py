r"""The baselines of the paper's comparison against naive dense
implementations of their papers' equations, their losses, checkpoints and
configs."""
import pytest
import torch
import torch.nn.functional as F

from rmbrec_pyg.data import edge_index_dict_of
from rmbrec_pyg.nn import (CRGCN, MBCGCN, PKEF, MultiBehaviorBaseline, SimGCL,
                           model_from_config)
from rmbrec_pyg.nn.baselines import cascade_order
from rmbrec_pyg.nn.baselines.simgcl import info_nce


def dense_adj(index, nu, ni):
    r"""D^-1/2 A D^-1/2 of the bipartite graph, dense, written out."""
    a = torch.zeros(nu + ni, nu + ni)
    a[index[0], index[1] + nu] = 1.0
    a[index[1] + nu, index[0]] = 1.0
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv.view(-1, 1) * a * inv.view(1, -1)


def setup(tiny, cls, **kwargs):
    torch.manual_seed(0)
    nu, ni = int(tiny['user'].num_nodes), int(tiny['item'].num_nodes)
    edges = edge_index_dict_of(tiny)
    model = cls(nu, ni, list(tiny.behaviors), 'buy', embedding_dim=8,
                **kwargs)
    adj = model.build_adjacency(edges, nu, ni, eps=0.0)
    dense = {b: dense_adj(e, nu, ni) for b, e in edges.items()}
    x0 = torch.cat([model.user_embedding.weight,
                    model.item_embedding.weight]).detach()
    return model, adj, dense, x0, nu


def batch(tiny, model, n=16):
    from rmbrec_pyg.graph import BehaviorSampler
    edges = edge_index_dict_of(tiny)
    sampler = BehaviorSampler({b: edges[b] for b in model.behaviors},
                              model.num_users, model.num_items, 'all',
                              torch.Generator().manual_seed(0))
    users = torch.arange(n)
    return (users, *sampler.sample(users))


def test_cascade_order():
    assert cascade_order(['buy', 'cart', 'view'], 'buy') == \
        ['view', 'cart', 'buy']
    assert cascade_order(['cart', 'collect', 'click', 'buy'], 'buy') == \
        ['click', 'collect', 'cart', 'buy']
    assert cascade_order(['a', 'cart', 'buy'], 'buy', ['cart', 'a', 'buy']) \
        == ['cart', 'a', 'buy']
    with pytest.raises(ValueError, match="'order' must list"):
        cascade_order(['cart', 'buy'], 'buy', ['buy', 'cart'])


def test_simgcl_matches_dense(tiny):
    model, adj, dense, x0, nu = setup(tiny, SimGCL, num_layers=3)
    a = dense['buy']
    layers, x = [], x0
    for _ in range(3):
        x = a @ x
        layers.append(x)
    ref = torch.stack(layers).mean(0)  # layers 1..L, no layer 0
    zu, zi = model(adj)
    assert torch.allclose(torch.cat([zu, zi]), ref, atol=1e-5)
    # One perturbed layer: the noise has norm eps and the embedding's signs.
    one = SimGCL(model.num_users, model.num_items, model.behaviors, 'buy',
                 embedding_dim=8, num_layers=1, eps=0.3)
    one.load_state_dict(model.state_dict())
    clean = torch.cat(one.encode(adj))
    noisy = torch.cat(one.encode(adj, perturb=True))
    rows = (clean != 0).all(-1)
    delta = noisy[rows] - clean[rows]
    assert torch.allclose(delta.norm(dim=-1), torch.full_like(
        delta[:, 0], 0.3), atol=1e-5)
    assert (torch.sign(delta) == torch.sign(clean[rows])).all()


def test_info_nce_matches_loop():
    torch.manual_seed(0)
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    total = 0.0
    for k in range(5):
        sims = torch.stack([F.cosine_similarity(a[k], b[j], dim=0)
                            for j in range(5)]) / 0.2
        total += -torch.log(torch.exp(sims[k]) / torch.exp(sims).sum())
    assert torch.allclose(info_nce(a, b, 0.2), total / 5, atol=1e-5)


def test_crgcn_matches_dense(tiny):
    model, adj, dense, x0, nu = setup(tiny, CRGCN,
                                      num_layers={'view': 2, 'default': 1})
    assert model.order == ['view', 'cart', 'buy']
    x, ref = x0, {}
    for b, layers in [('view', 2), ('cart', 1), ('buy', 1)]:
        h = x
        for _ in range(layers):
            h = dense[b] @ h
        x = x + F.normalize(h, dim=-1)
        ref[b] = x
    blocks = model.blocks(adj)
    for b in ref:
        assert torch.allclose(blocks[b], ref[b], atol=1e-5)
    zu, zi = model(adj)
    assert torch.allclose(torch.cat([zu, zi]), ref['buy'], atol=1e-5)


def test_mbcgcn_matches_dense(tiny):
    model, adj, dense, x0, nu = setup(
        tiny, MBCGCN, num_layers={'view': 1, 'cart': 2, 'buy': 3},
        init_std=0.3)
    x, total = x0, 0
    for b, layers in [('view', 1), ('cart', 2), ('buy', 3)]:
        hs = [x]
        for _ in range(layers):
            hs.append(dense[b] @ hs[-1])
        e = sum(hs) / (layers + 1)
        total = total + e
        if b != 'buy':
            wu = model.user_transform[b].weight.detach()
            wi = model.item_transform[b].weight.detach()
            x = torch.cat([e[:nu] @ wu.t(), e[nu:] @ wi.t()])
    zu, zi = model(adj)
    assert torch.allclose(torch.cat([zu, zi]), total, atol=1e-5)


def test_mbcgcn_pretraining_is_lightgcn_on_the_first_behavior(tiny):
    model, adj, dense, x0, nu = setup(tiny, MBCGCN, pretrain_layers=2,
                                      init_std=0.3, reg=0.5)
    hs = [x0]
    for _ in range(2):
        hs.append(dense['view'] @ hs[-1])
    ref = sum(hs) / 3
    zu, zi = model.pretrain_embedding(adj)
    assert torch.allclose(torch.cat([zu, zi]), ref, atol=1e-5)
    # BPR on the view column of the batch, L2 on its base embeddings.
    users, pos, neg, mask = batch(tiny, model)
    c = model.behaviors.index('view')
    keep = mask[:, c]
    u, i, j = users[keep], pos[keep, c], neg[keep, c]
    bpr = -F.logsigmoid((ref[u] * ref[nu + i]).sum(-1) -
                        (ref[u] * ref[nu + j]).sum(-1)).mean()
    l2 = 0.5 * (x0[u].pow(2).sum() + x0[nu + i].pow(2).sum() +
                x0[nu + j].pow(2).sum()) / int(keep.sum())
    total, terms = model.pretrain_loss(adj, users, pos, neg, mask)
    assert torch.allclose(terms['main'], bpr, atol=1e-5)
    assert torch.allclose(total, bpr + 0.5 * l2, atol=1e-5)


def test_mbcgcn_regularises_the_transformations(tiny):
    model, adj, _, x0, nu = setup(tiny, MBCGCN, reg=1.0)
    users, pos, neg, mask = batch(tiny, model)
    _, terms = model.loss(adj, users, pos, neg, mask)
    c = model.target_index
    keep = mask[:, c]
    u, i, j = users[keep], pos[keep, c], neg[keep, c]
    w = sum(lin.weight.detach().pow(2).sum()
            for maps in (model.user_transform, model.item_transform)
            for lin in maps.values())
    ref = 0.5 * (x0[u].pow(2).sum() + x0[nu + i].pow(2).sum() +
                 x0[nu + j].pow(2).sum() + w) / int(keep.sum())
    assert torch.allclose(terms['reg'], ref, rtol=1e-5)


def test_pkef_matches_dense(tiny):
    model, adj, dense, x0, nu = setup(
        tiny, PKEF, num_layers={'view': 2, 'default': 1},
        coefficients={'view': 0.0, 'default': 0.5})
    layers = {'view': 2, 'cart': 1, 'buy': 1}

    def proj(o, t, s):
        return s * ((o * t).sum(-1, keepdim=True) /
                    (t * t).sum(-1, keepdim=True).clamp_min(1e-12)) * t
    par = {}
    for b in ['view', 'cart', 'buy']:
        hs = [x0]
        for _ in range(layers[b]):
            hs.append(dense[b] @ hs[-1] + hs[-1])
        par[b] = hs
    cas, ego = {}, x0
    for b in ['view', 'cart', 'buy']:
        cs = [ego]
        for k in range(layers[b]):
            m = dense[b] @ cs[-1]
            cs.append(m + cs[-1] + proj(par[b][k + 1], m, 0.3))
        ego = cs[-1] + ego
        cas[b] = sum(cs)
    p, c = model.branches(adj)
    for b in cas:
        assert torch.allclose(p[b], sum(par[b]), atol=1e-5)
        assert torch.allclose(c[b], cas[b], atol=1e-4)
    # The target score of a (user, item) pair, term by term.
    zu, zi = model(adj)
    u, i = 3, 7
    cu, ci = {b: cas[b][u] for b in cas}, {b: cas[b][nu + i] for b in cas}
    w = torch.softmax(model.gate(cu['buy']), -1)
    experts = [cu['buy'] * ci['buy']] + [
        proj(cu[b], cu['buy'], 0.01) * proj(ci[b], ci['buy'], 0.01)
        for b in ['view', 'cart']]
    ref = 300.0 * sum(w[k] * e.sum() for k, e in enumerate(experts))
    assert torch.allclose(zu[u] @ zi[i], ref, rtol=1e-4)


@pytest.mark.parametrize('cls', [SimGCL, CRGCN, MBCGCN, PKEF])
def test_loss_trains(tiny, cls):
    model, adj, _, _, _ = setup(tiny, cls)
    users, pos, neg, mask = batch(tiny, model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(20):
        opt.zero_grad()
        total, terms = model.loss(adj, users, pos, neg, mask)
        assert torch.isfinite(total) and 'main' in terms
        total.backward()
        opt.step()
        first = float(terms['main']) if first is None else first
    assert float(terms['main']) < first
    assert model.user_embedding.weight.grad is not None


@pytest.mark.parametrize('cls', [SimGCL, CRGCN, MBCGCN, PKEF])
def test_config_round_trip(tiny, cls):
    model, adj, _, _, _ = setup(tiny, cls)
    config = model.config()
    assert config['model'] == cls.__name__
    again = model_from_config(config)
    assert isinstance(again, cls) and isinstance(again, MultiBehaviorBaseline)
    again.load_state_dict(model.state_dict())
    model.eval()
    again.eval()
    for a, b in zip(model(adj), again(adj)):
        assert torch.equal(a, b)
    assert cls.__name__ in repr(model)


def test_model_from_config_refuses_unknown():
    with pytest.raises(ValueError, match="Could not resolve model 'Evil'"):
        model_from_config({'model': 'Evil'})


def test_bad_arguments(tiny):
    with pytest.raises(ValueError, match="target 'x' is not among"):
        CRGCN(5, 5, ['cart', 'buy'], 'x')
    with pytest.raises(ValueError, match="no layer count for behavior "
                       "'cart'"):
        MBCGCN(5, 5, ['cart', 'buy'], 'buy', num_layers={'buy': 2})
    with pytest.raises(ValueError, match="'pretrain_epochs' must be an "
                       "integer >= 0"):
        MBCGCN(5, 5, ['cart', 'buy'], 'buy', pretrain_epochs=-1)
    with pytest.raises(ValueError, match="'temperature' must be positive"):
        SimGCL(5, 5, ['buy'], 'buy', temperature=0.0)
