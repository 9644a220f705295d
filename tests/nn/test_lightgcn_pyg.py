r"""PyG's own LightGCN tests, re-checked against the drop-in (written here,
not copied): the same calls on a multi-behavior HeteroData with a shop's
names, edge weights and layer weights; the same numbers as PyG's model on
a target-only graph; the usual PyTorch patterns (torch.compile)."""
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn import LightGCN

from rmbrec_pyg.nn import MultiBehaviorEncoder, MultiBehaviorLightGCN

U, I = 250, 250  # noqa: E741 (users, items)
TARGET = ('customer', 'purchase', 'product')


def _shop(seed=0, behaviors=('click', 'cart', 'purchase'), edges=400):
    gen = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data['customer'].num_nodes = U
    data['product'].num_nodes = I
    for b in behaviors:
        data['customer', b, 'product'].edge_index = torch.stack([
            torch.randint(0, U, (edges, ), generator=gen),
            torch.randint(0, I, (edges, ), generator=gen)])
    return data


def _both_ways(pairs):
    # the target graph in PyG's homogeneous numbering, both directions
    index = torch.stack([pairs[0], pairs[1] + U])
    return torch.cat([index, index.flip(0)], dim=1)


def _unique(pairs):
    keys = torch.unique(pairs[0] * I + pairs[1])
    return torch.stack([keys // I, keys % I])


def _inputs(with_edge_weight):
    # PyG's test inputs: the target graph (both ways), optional random
    # edge weights and 100 user-item pairs to score
    data = _shop()
    edge_index = _both_ways(data[TARGET].edge_index)
    edge_weight = torch.rand(edge_index.size(1)) if with_edge_weight \
        else None
    edge_label_index = torch.stack([torch.randint(0, U, (100, )),
                                    torch.randint(U, U + I, (100, ))])
    return data, edge_index, edge_weight, edge_label_index


@pytest.mark.parametrize('embedding_dim', [32, 64])
@pytest.mark.parametrize('with_edge_weight', [False, True])
@pytest.mark.parametrize('lambda_reg', [0, 1e-4])
@pytest.mark.parametrize('alpha', [0, .25, torch.tensor([0.4, 0.3, 0.2])])
def test_ranking(embedding_dim, with_edge_weight, lambda_reg, alpha):
    data, edge_index, edge_weight, edge_label_index = \
        _inputs(with_edge_weight)
    model = MultiBehaviorLightGCN(data, embedding_dim, num_layers=2,
                                  target='purchase', alpha=alpha)
    assert str(model).startswith(f'MultiBehaviorLightGCN(500, '
                                 f'{embedding_dim}, num_layers=2')
    assert model.alpha.shape == (3, )

    pred = model(edge_index, edge_label_index, edge_weight)
    assert pred.size() == (100, )
    loss = model.recommendation_loss(pred[:50], pred[50:],
                                     node_id=edge_index.unique(),
                                     lambda_reg=lambda_reg)
    assert loss.dim() == 0 and loss > 0

    out = model.recommend(edge_index, edge_weight, k=2)
    assert out.size() == (U, 2)
    assert out.min() >= U and out.max() < U + I  # items only
    src_index = torch.arange(0, 100)
    dst_index = torch.arange(U + 50, U + I)
    out = model.recommend(edge_index, edge_weight, src_index, dst_index, k=2)
    assert out.size() == (100, 2)
    assert out.min() >= U + 50 and out.max() < U + I


@pytest.mark.parametrize('with_edge_weight', [False, True])
@pytest.mark.parametrize('alpha', [0, .25, torch.tensor([0.4, 0.3, 0.2])])
def test_link_prediction(with_edge_weight, alpha):
    data, edge_index, edge_weight, edge_label_index = \
        _inputs(with_edge_weight)
    edge_label = torch.randint(0, 2, (100, ))
    model = MultiBehaviorLightGCN(data, 32, num_layers=2, target='purchase',
                                  alpha=alpha)
    pred = model(edge_index, edge_label_index, edge_weight)
    assert pred.size() == (100, )
    loss = model.link_pred_loss(pred, edge_label)
    assert loss.dim() == 0 and loss > 0
    prob = model.predict_link(edge_index, edge_label_index, edge_weight,
                              prob=True)
    assert prob.size() == (100, ) and prob.min() > 0 and prob.max() < 1
    label = model.predict_link(edge_index, edge_label_index, edge_weight)
    assert ((label == 0) | (label == 1)).all()


@pytest.mark.parametrize('alpha', [None, .25, torch.tensor([.5, .3, .2])])
@pytest.mark.parametrize('with_edge_weight', [False, True])
def test_same_numbers_as_pyg_on_a_target_only_graph(alpha, with_edge_weight):
    # One behavior: the multi-behavior model is LightGCN itself, with
    # PyG's initialisation, layer weights and edge weights.
    data = _shop(behaviors=('purchase', ))
    pairs = _unique(data[TARGET].edge_index)
    edge_index = _both_ways(pairs)
    weight = torch.rand(pairs.size(1)) + 0.1 if with_edge_weight else None
    edge_weight = None if weight is None else torch.cat([weight, weight])
    torch.manual_seed(0)
    ours = MultiBehaviorLightGCN(data, 16, num_layers=2, init='pyg',
                                 alpha=alpha)
    theirs = LightGCN(U + I, 16, num_layers=2, alpha=alpha)
    with torch.no_grad():
        theirs.embedding.weight.copy_(ours.embedding.weight)
    assert torch.allclose(ours.alpha, theirs.alpha)
    a = ours.get_embedding(edge_index, edge_weight)
    b = theirs.get_embedding(edge_index, edge_weight)
    assert torch.allclose(a, b, atol=1e-6)


def test_embedding_view_and_alpha_errors():
    data = _shop()
    model = MultiBehaviorLightGCN(data, 8, num_layers=3, target='purchase')
    emb = model.embedding
    assert emb.num_embeddings == U + I and emb.embedding_dim == 8
    assert torch.equal(emb.weight[:U], model.encoder.user_embedding.weight)
    index = torch.tensor([3, U + 4, 7, U + I - 1])
    assert torch.equal(emb(index), emb.weight[index])
    emb(index).sum().backward()
    assert model.encoder.item_embedding.weight.grad[4].abs().sum() > 0
    assert torch.allclose(model.alpha, torch.full((4, ), 0.25))
    with pytest.raises(ValueError, match=r"'alpha' must hold num_layers \+ "
                       '1 = 4 layer weights'):
        MultiBehaviorLightGCN(data, 8, 3, target='purchase',
                              alpha=torch.ones(3))


def test_weighted_cache_never_serves_stale_weights():
    data = _shop()
    model = MultiBehaviorLightGCN(data, 8, 2, target='purchase').eval()
    edge_index = _both_ways(data[TARGET].edge_index)
    weight = torch.rand(edge_index.size(1)) + 0.5
    with torch.no_grad():
        a = model.get_embedding(edge_index, weight)
        plain = model.get_embedding(edge_index)
        assert not torch.equal(a, plain)
        weight.mul_(torch.rand_like(weight))  # edited in place
        b = model.get_embedding(edge_index, weight)
        fresh = model.get_embedding(edge_index, weight.clone())
    assert not torch.equal(a, b) and torch.equal(b, fresh)


def test_encoder_takes_raw_graphs_weights_and_hetero_data():
    data = _shop()
    weights = {b: torch.rand(400) + 0.1 for b in ('click', 'cart')}
    for b, w in weights.items():
        data['customer', b, 'product'].edge_weight = w
    torch.manual_seed(0)
    enc = MultiBehaviorEncoder(U, I, ['click', 'cart', 'purchase'], 8, 2)
    built = MultiBehaviorEncoder.build_adjacency(data, U, I)
    ref = enc(built)
    assert torch.allclose(enc(data)[0], ref[0])  # normalised per call
    raw = {t: (data[t].edge_index, data[t].edge_weight) if
           'edge_weight' in data[t] else data[t].edge_index
           for t in data.edge_types}
    assert torch.allclose(enc(raw)[0], ref[0], atol=1e-6)
    sparse = {t: torch.sparse_coo_tensor(
        data[t].edge_index, data[t].edge_weight if 'edge_weight' in data[t]
        else torch.ones(400), (U, I), check_invariants=True).to_sparse_csr()
        for t in data.edge_types}
    assert torch.allclose(enc(sparse)[0], ref[0], atol=1e-6)
    unweighted = MultiBehaviorEncoder.build_adjacency(
        {b: data['customer', b, 'product'].edge_index
         for b in ('click', 'cart', 'purchase')}, U, I)
    assert not torch.allclose(enc(unweighted)[0], ref[0])
    with pytest.raises(ValueError, match=r'\[users, items\] = \[250, 300\] '
                       r'\(got \[300, 250\], an adj_t: pass adj_t.t\(\)\)'):
        MultiBehaviorEncoder.build_adjacency(
            {'click': torch.sparse_coo_tensor(torch.tensor([[0], [0]]),
                                              torch.ones(1), (300, 250))},
            250, 300)
    with pytest.raises(TypeError, match="behavior 'click' must be"):
        MultiBehaviorEncoder.build_adjacency({'click': 'edges.csv'}, U, I)


def test_torch_compile_runs_with_one_graph_break():
    torch._dynamo.reset()
    data = _shop()
    edge_index = _both_ways(data[TARGET].edge_index)
    label = torch.stack([torch.randint(0, U, (64, )),
                         torch.randint(U, U + I, (64, ))])
    model = MultiBehaviorLightGCN(data, 8, 2, target='purchase')
    explained = torch._dynamo.explain(model)(edge_index, label)
    # the sparse propagation runs eagerly (torch.compile takes no sparse
    # tensors); the fusion and the scores around it compile
    assert explained.graph_break_count == 1
    compiled = torch.compile(model, backend='eager')
    out = compiled(edge_index, label)
    out.sum().backward()
    grad = model.encoder.user_embedding.weight.grad.clone()
    model.zero_grad()
    ref = model(edge_index, label)
    ref.sum().backward()
    assert torch.allclose(out, ref)
    assert torch.allclose(grad, model.encoder.user_embedding.weight.grad)
    torch._dynamo.reset()
