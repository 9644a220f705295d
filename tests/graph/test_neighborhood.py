r"""Sampled propagation (trainer.propagation=sampled): exact with every
neighbour, a bounded neighbourhood with a fanout, and the global
normalisation kept."""
import pytest
import torch

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.graph.neighborhood import NeighborhoodSampler
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.testing import rmbrec_batch
from rmbrec_pyg.train import Trainer, TrainerConfig, seed_everything

U, I = 300, 200  # noqa: E741 (users, items)


@pytest.fixture(scope='module')
def data():
    return SyntheticMultiBehaviorDataset(num_users=U, num_items=I)[0]


def _edges(data):
    return {b: data['user', b, 'item'].edge_index for b in data.behaviors}


def _loss_and_grads(enc, obj, graphs, batch):
    enc.zero_grad()
    total, terms = obj(enc, graphs, *batch)
    total.backward()
    return total.detach(), [p.grad.clone() for p in enc.parameters()]


@pytest.mark.parametrize('combination', ['normalized_sum', 'mean'])
def test_every_neighbour_gives_the_full_loss_and_gradients(data,
                                                            combination):
    enc, adj, obj, batch = rmbrec_batch(data, 3, combination)
    full, full_grads = _loss_and_grads(enc, obj, adj, batch)
    sampled, grads = _loss_and_grads(
        enc, obj, NeighborhoodSampler(adj, 3, fanout=-1), batch)
    assert torch.allclose(full, sampled, atol=1e-6)
    for a, b in zip(full_grads, grads):
        assert torch.allclose(a, b, atol=1e-6)
    # a fanout changes the loss: it propagates less
    sampled, _ = _loss_and_grads(
        enc, obj, NeighborhoodSampler(adj, 3, fanout=2,
                                      generator=torch.Generator()
                                      .manual_seed(0)), batch)
    assert not torch.allclose(full, sampled, atol=1e-4)


def test_a_fanout_bounds_the_neighbourhood_and_keeps_global_values(data):
    adj = MultiBehaviorEncoder.build_adjacency(_edges(data), U, I)
    sampler = NeighborhoodSampler(adj, 1, fanout={'view': 3},
                                  generator=torch.Generator().manual_seed(0))
    seeds = torch.tensor([0, 5, 9, U + 3])
    for b in data.behaviors:
        hood = sampler.neighborhood(b, seeds)
        assert torch.equal(hood.nodes[:4], seeds)
        sub = hood.adj.to_dense()
        assert torch.equal(sub, sub.t())  # symmetric
        full = adj[b].to_dense()[hood.nodes][:, hood.nodes]
        kept = sub != 0
        assert torch.equal(sub[kept], full[kept])  # global normalisation
        per_seed = kept[:4].sum(1)
        degree = (adj[b].to_dense()[seeds] != 0).sum(1)
        if b == 'view':
            assert (per_seed <= 3).all() and (per_seed <= degree).all()
        else:  # every neighbour of one hop
            assert torch.equal(per_seed, degree)
    with pytest.raises(ValueError, match='unknown behaviors'):
        NeighborhoodSampler(adj, 1, fanout={'click': 3})
    with pytest.raises(ValueError, match='-1 \\(every neighbour\\) or '
                       'positive'):
        NeighborhoodSampler(adj, 1, fanout=0)


def _fit_one_epoch(data, **kw):
    seed_everything(0)
    enc = MultiBehaviorEncoder(U, I, list(data.behaviors), 16, 2)
    cfg = TrainerConfig(max_epochs=1, batch_size=128, progress=False,
                        seed=0, **kw)
    tr = Trainer(data, enc, {'rrm': RRM(1.0), 'orm': ORM(1.0)}, cfg)
    tr.train_epoch(1)
    return tr


def test_trainer_sampled_with_every_neighbour_trains_as_full(data):
    full = _fit_one_epoch(data)
    sampled = _fit_one_epoch(data, propagation='sampled', fanout=-1)
    assert isinstance(sampled.train_adj, NeighborhoodSampler)
    for a, b in zip(full.encoder.parameters(),
                    sampled.encoder.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    small = _fit_one_epoch(data, propagation='sampled', fanout=2,
                           fanouts={'buy': -1})
    assert small.train_adj.fanout == {'view': 2, 'cart': 2, 'buy': -1}
    # evaluation propagates the whole graph
    assert small.evaluate(('val', ))['val']['HR@10'] >= 0


def test_sampled_settings_that_cannot_work_are_named(data):
    from rmbrec_pyg.data.errors import ConfigError
    with pytest.raises(ConfigError, match="'trainer.fanout' must be -1"):
        TrainerConfig(propagation='sampled', fanout=0).validate()
    with pytest.raises(ConfigError, match="'trainer.fanouts.view' must be"):
        TrainerConfig(propagation='sampled', fanouts={'view': -3}).validate()
    with pytest.raises(ConfigError, match="'trainer.fanouts' names unknown "
                       r"behaviors \['click'\]"):
        _fit_one_epoch(data, propagation='sampled', fanouts={'click': 3})


def test_a_neighbourhood_as_large_as_a_node_type_is_not_renormalised():
    # users == items == the neighbourhood's size: its [V, V] sub-adjacency
    # has the shape of a raw [U, I] graph and must not be taken for one
    edges = {'buy': torch.tensor([[0, 1, 1, 2, 3], [0, 0, 1, 2, 3]])}
    torch.manual_seed(0)
    enc = MultiBehaviorEncoder(4, 4, ['buy'], 8, 3)
    adj = enc.build_adjacency(edges, 4, 4)
    sampler = NeighborhoodSampler(adj, 3)
    users, items = torch.tensor([0]), torch.tensor([1])
    assert sampler.neighborhood('buy', torch.tensor([0, 5])).nodes.numel() \
        == 4  # user 0, item 1, item 0, user 1
    full = enc(adj, users, items)
    for a, b in zip(full, enc(sampler, users, items)):
        assert torch.allclose(a, b, atol=1e-6)
