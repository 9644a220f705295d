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
    with pytest.raises(ValueError, match="'edge_weight' is not supported"):
        model.get_embedding(edge_index, torch.ones(edge_index.size(1)))
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
