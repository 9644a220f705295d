r"""MultiBehaviorLightGCN has PyG's LightGCN interface: the same training
code runs with either, changing only the constructor."""
import inspect
import os
import sys

import pytest
import torch
from torch_geometric.nn import LightGCN

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.nn import MultiBehaviorLightGCN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_same_methods_and_arguments_as_pyg_lightgcn():
    for name in ('forward', 'get_embedding', 'predict_link', 'recommend',
                 'link_pred_loss', 'recommendation_loss',
                 'reset_parameters'):
        ours = inspect.signature(getattr(MultiBehaviorLightGCN, name))
        theirs = inspect.signature(getattr(LightGCN, name))
        for param in theirs.parameters:  # every PyG argument, same name
            assert param in ours.parameters, (name, param)


def test_pyg_training_recipe_runs_with_both_models():
    sys.path.insert(0, os.path.join(ROOT, 'examples'))
    from pyg_lightgcn import main
    torch.set_num_threads(1)
    args = ['--epochs', '4', '--users', '200', '--items', '120', '--k', '10']
    plain = main(args + ['--model', 'lightgcn'])
    ours = main(args + ['--model', 'rmbrec'])
    assert set(plain) == set(ours) == {'precision@10', 'recall@10'}
    assert ours['recall@10'] > 0.05


def test_recommend_and_links():
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    buy = data['user', 'buy', 'item'].edge_index
    edge_index = torch.stack([buy[0], buy[1] + 50])
    top = model.recommend(edge_index, k=5, exclude_bought=True)
    assert top.shape == (50, 5) and (top >= 50).all()
    bought = set(map(tuple, buy.t().tolist()))
    assert not any((u, int(i) - 50) in bought
                   for u in range(50) for i in top[u])
    some = model.recommend(edge_index, src_index=torch.tensor([3, 7]), k=2)
    assert some.shape == (2, 2)
    probs = model.predict_link(edge_index, prob=True)
    assert probs.shape == (edge_index.size(1), ) and (probs <= 1).all()
    loss = model.recommendation_loss(probs, probs.flip(0))
    loss = loss + model.contrastive_loss(edge_index[0])
    loss.backward()
    assert model.encoder.user_embedding.weight.grad is not None
    with pytest.raises(ValueError, match="'edge_weight' must be a \\[E\\] "
                       'tensor with E = '):
        model.get_embedding(edge_index, torch.ones(3))
    with pytest.raises(ValueError, match='finite, non-negative'):
        model.get_embedding(edge_index, -torch.ones(edge_index.size(1)))
    assert 'MultiBehaviorLightGCN(80, 8, num_layers=2' in repr(model)


def test_target_graph_cache_never_serves_a_stale_graph():
    data = SyntheticMultiBehaviorDataset(num_users=60, num_items=40)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    model.eval()
    tr = data['user', str(data.target), 'item'].edge_index.clone()
    tr[1] += 60  # PyG's homogeneous node ids: items after users
    n = tr.size(1) // 3
    sub = tr[:, :n].clone()
    with torch.no_grad():
        a = model.get_embedding(sub)
        assert torch.equal(a, model.get_embedding(sub))  # cached, same
        sub.copy_(tr[:, n:2 * n])  # edited in place
        b = model.get_embedding(sub)
        fresh = model.get_embedding(tr[:, n:2 * n].clone())
    assert not torch.equal(a, b)
    assert torch.equal(b, fresh)


def _renamed(data, undirected=False):
    # The synthetic graph under a shop's own names, as a PyG user builds it:
    # no data.behaviors, no data.target.
    from torch_geometric.data import HeteroData
    import torch_geometric.transforms as T
    out = HeteroData()
    out['customer'].num_nodes = data['user'].num_nodes
    out['product'].num_nodes = data['item'].num_nodes
    for old, new in (('view', 'click'), ('cart', 'cart'),
                     ('buy', 'purchase')):
        out['customer', new, 'product'].edge_index = \
            data['user', old, 'item'].edge_index
    return T.ToUndirected()(out) if undirected else out


def _homogeneous(data):
    buy = data['user', 'buy', 'item'].edge_index
    pairs = torch.stack([buy[0], buy[1] + data['user'].num_nodes])
    return torch.cat([pairs, pairs.flip(0)], dim=1)


@pytest.mark.parametrize('undirected', [False, True])
def test_any_hetero_data_under_any_names(undirected):
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    torch.manual_seed(0)
    ours = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    torch.manual_seed(0)
    theirs = MultiBehaviorLightGCN(_renamed(data, undirected),
                                   embedding_dim=8, num_layers=2,
                                   target=('customer', 'purchase', 'product'))
    assert theirs.encoder.behaviors == ['click', 'cart', 'purchase']
    assert theirs.node_types == ('customer', 'product')
    edge_index = _homogeneous(data)
    # the reverse edge types of ToUndirected are recognised, not behaviors
    assert torch.allclose(ours.get_embedding(edge_index),
                          theirs.get_embedding(edge_index))
    by_name = MultiBehaviorLightGCN(_renamed(data, undirected), 8, 2,
                                    target='purchase')
    assert by_name.target_edge_type == ('customer', 'purchase', 'product')


def test_hetero_data_it_cannot_take_is_named():
    data = _renamed(SyntheticMultiBehaviorDataset(num_users=20,
                                                  num_items=10)[0])
    with pytest.raises(ValueError, match='pass target='):
        MultiBehaviorLightGCN(data, 8, 2)
    with pytest.raises(ValueError, match="target 'order' names 0 edge"):
        MultiBehaviorLightGCN(data, 8, 2, target='order')
    data['customer', 'follows', 'customer'].edge_index = \
        torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match=r"\[\('customer', 'follows', "
                       r"'customer'\)\] are not between"):
        MultiBehaviorLightGCN(data, 8, 2, target='purchase')


def test_deepcopy_and_pyg_initialisation():
    import copy
    import math
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2,
                                  init='pyg')
    bound = math.sqrt(6 / (80 + 8))
    for w in (model.encoder.user_embedding.weight,
              model.encoder.item_embedding.weight):
        assert w.abs().max() <= bound and w.std() > bound / 3
    edge_index = _homogeneous(data)
    model(edge_index).sum().backward()  # a forward leaves its towers
    best = copy.deepcopy(model)  # keep-the-best, EMA, SWA
    assert torch.equal(best.get_embedding(edge_index),
                       model.get_embedding(edge_index))
    with torch.no_grad():
        model.encoder.user_embedding.weight.add_(1.0)
    assert not torch.equal(best.get_embedding(edge_index),
                           model.get_embedding(edge_index))
    with pytest.raises(ValueError, match="'init' must be"):
        MultiBehaviorLightGCN(data, 8, 2, init='xavier')


def test_recommend_with_large_k_and_repeated_sources():
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    edge_index = _homogeneous(data)
    with pytest.raises(ValueError, match=r"'k' \(31\) is larger than the "
                       r'number of candidate items \(30\)'):
        model.recommend(edge_index, k=31)
    assert model.recommend(edge_index, k=30).shape == (50, 30)
    buy = data['user', 'buy', 'item'].edge_index
    user = int(buy[0, 0])
    mine = set((buy[1][buy[0] == user] + 50).tolist())
    k = 30 - len(mine)
    top = model.recommend(edge_index, src_index=torch.tensor([user, 3, user]),
                          k=k, exclude_bought=True)
    for row in (0, 2):  # both rows of the repeated user are masked
        assert not set(top[row].tolist()) & mine
    assert torch.equal(top[0], top[2])


def test_orm_from_your_own_loop():
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2,
                                  orm_weight=0.5)
    edge_index = _homogeneous(data)
    with pytest.raises(RuntimeError, match='forward'):
        model.behavior_losses({})
    model(edge_index)
    triples = model.sample_behavior_triples(
        64, generator=torch.Generator().manual_seed(0))
    assert set(triples) == {'view', 'cart', 'buy'}
    u, i, j = triples['cart']
    cart = set(map(tuple, data['user', 'cart', 'item'].edge_index.t()
                   .tolist()))
    assert all((a, b - 50) in cart for a, b in zip(u.tolist(), i.tolist()))
    assert (j >= 50).all() and (j < 80).all()
    losses = model.behavior_losses(triples)
    assert losses.shape == (3, ) and (losses > 0).all()
    orm = model.robustness_loss(losses)
    assert torch.allclose(orm, 0.5 * losses.var())
    orm.backward()
    assert model.encoder.item_embedding.weight.grad is not None
    with pytest.raises(ValueError, match=r"no triples for the behaviors "
                       r"\['buy'\]"):
        model.behavior_losses({b: t for b, t in triples.items()
                               if b != 'buy'})


def test_other_dtypes_and_weights_from_other_graphs():
    import copy
    import warnings
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    edge_index = _homogeneous(data)
    ref = model.get_embedding(edge_index).detach()
    double = copy.deepcopy(model).double()
    out = double.get_embedding(edge_index)
    assert out.dtype == torch.float64
    assert torch.allclose(out.float(), ref, atol=1e-6)
    half = copy.deepcopy(model).to(torch.bfloat16)
    assert half.get_embedding(edge_index).dtype == torch.bfloat16
    state = model.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the same graphs: no warning
        MultiBehaviorLightGCN(data, 8, 2).load_state_dict(state)
    other = SyntheticMultiBehaviorDataset(num_users=50, num_items=30,
                                          seed=1)[0]
    with pytest.warns(UserWarning, match=r'trained on other graphs \(buy, '
                      r'cart, view differ\)'):
        MultiBehaviorLightGCN(other, 8, 2).load_state_dict(state)


def test_build_adjacency_on_any_names_with_reverse_edges():
    from rmbrec_pyg.nn import MultiBehaviorEncoder
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    plain = MultiBehaviorEncoder.build_adjacency(
        {b: data['user', b, 'item'].edge_index for b in data.behaviors},
        50, 30)
    shop = _renamed(data, undirected=True)
    shop.target = 'purchase'  # which of the three is the target
    for given in (shop, shop.edge_index_dict):
        adj = MultiBehaviorEncoder.build_adjacency(given, 50, 30)
        assert set(adj) == {'click', 'cart', 'purchase'}
        for ours, theirs in (('view', 'click'), ('buy', 'purchase')):
            assert torch.equal(adj[theirs].to_dense(),
                               plain[ours].to_dense())


def test_pyg_adj_forms_and_what_they_cannot_be():
    data = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)[0]
    model = MultiBehaviorLightGCN(data, embedding_dim=8, num_layers=2)
    edge_index = _homogeneous(data)
    ref = model.get_embedding(edge_index)
    coo = torch.sparse_coo_tensor(edge_index, torch.ones(edge_index.size(1)),
                                  (80, 80), check_invariants=True)
    for adj in (coo, coo.to_sparse_csr(), coo.to_sparse_csc()):
        assert torch.equal(model.get_embedding(adj), ref)
    weight = torch.rand(edge_index.size(1)) + 2
    weighted = torch.sparse_coo_tensor(edge_index, weight, (80, 80),
                                       check_invariants=True)
    assert torch.allclose(model.get_embedding(weighted),
                          model.get_embedding(edge_index, weight))
    with pytest.raises(ValueError, match='not both'):
        model.get_embedding(weighted, weight)
    with pytest.raises(ValueError, match='must be \\[N, N\\] with N = 80'):
        model.get_embedding(torch.sparse_coo_tensor(
            edge_index, torch.ones(edge_index.size(1)), (90, 90),
            check_invariants=True))
    with pytest.raises(ValueError, match='user-user or item-item pairs'):
        model.get_embedding(torch.tensor([[0, 1], [2, 3]]))
    try:
        from torch_sparse import SparseTensor
    except ImportError:
        return
    sp = SparseTensor.from_edge_index(edge_index, sparse_sizes=(80, 80))
    assert torch.allclose(model.get_embedding(sp), ref)
