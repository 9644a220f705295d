r"""Sampled propagation (trainer.propagation=sampled): exact with every
neighbour, a bounded neighbourhood with a fanout, and the global
normalisation kept, with the pure-torch sampler and with PyG's (where
pyg-lib or torch_sparse is importable)."""
import pytest
import torch

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.graph import neighborhood
from rmbrec_pyg.graph.neighborhood import (NeighborhoodSampler,
                                           pyg_sampler_backend,
                                           resolve_neighbor_sampler)
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.testing import rmbrec_batch
from rmbrec_pyg.train import Trainer, TrainerConfig, seed_everything

U, I = 300, 200  # noqa: E741 (users, items)
BACKENDS = ['torch', pytest.param('pyg', marks=pytest.mark.skipif(
    pyg_sampler_backend() is None, reason="PyG's neighbour sampler needs "
    'pyg-lib or torch_sparse, and neither is installed'))]


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


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('combination', ['normalized_sum', 'mean'])
def test_every_neighbour_gives_the_full_loss_and_gradients(data, combination,
                                                            backend):
    enc, adj, obj, batch = rmbrec_batch(data, 3, combination)
    full, full_grads = _loss_and_grads(enc, obj, adj, batch)
    sampled, grads = _loss_and_grads(
        enc, obj, NeighborhoodSampler(adj, 3, fanout=-1, backend=backend),
        batch)
    assert torch.allclose(full, sampled, atol=1e-6)
    for a, b in zip(full_grads, grads):
        assert torch.allclose(a, b, atol=1e-6)
    # a fanout changes the loss: it propagates less
    sampled, _ = _loss_and_grads(
        enc, obj, NeighborhoodSampler(adj, 3, fanout=2,
                                      generator=torch.Generator()
                                      .manual_seed(0), backend=backend),
        batch)
    assert not torch.allclose(full, sampled, atol=1e-4)


@pytest.mark.parametrize('backend', BACKENDS)
def test_a_fanout_bounds_the_neighbourhood_and_keeps_global_values(data,
                                                                    backend):
    adj = MultiBehaviorEncoder.build_adjacency(_edges(data), U, I)
    torch.manual_seed(0)  # PyG's sampler draws from the global stream
    sampler = NeighborhoodSampler(adj, 1, fanout={'view': 3},
                                  generator=torch.Generator().manual_seed(0),
                                  backend=backend)
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
        if b == 'view' and backend == 'pyg':  # distinct neighbours
            assert torch.equal(per_seed, degree.clamp_max(3))
        elif b == 'view':  # drawn with replacement, repeats dropped
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


@pytest.mark.parametrize('backend', BACKENDS)
def test_trainer_sampled_with_every_neighbour_trains_as_full(data, backend):
    full = _fit_one_epoch(data)
    sampled = _fit_one_epoch(data, propagation='sampled', fanout=-1,
                             neighbor_sampler=backend)
    assert isinstance(sampled.train_adj, NeighborhoodSampler)
    assert sampled.train_adj.backend == backend
    for a, b in zip(full.encoder.parameters(),
                    sampled.encoder.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    small = _fit_one_epoch(data, propagation='sampled', fanout=2,
                           fanouts={'buy': -1})
    assert small.train_adj.fanout == {'view': 2, 'cart': 2, 'buy': -1}
    # evaluation propagates the whole graph
    assert small.evaluate(('val', ))['val']['HR@10'] >= 0


def test_which_sampler_auto_takes_and_what_pyg_needs(monkeypatch):
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    for found, auto_cpu in [(None, 'torch'), ('torch-sparse', 'torch'),
                            ('pyg-lib', 'pyg')]:
        monkeypatch.setattr(neighborhood, 'pyg_sampler_backend',
                            lambda: found)
        assert resolve_neighbor_sampler('auto', cpu) == auto_cpu
        assert resolve_neighbor_sampler('auto', cuda) == 'torch'
        assert resolve_neighbor_sampler('torch', cpu) == 'torch'
        if found is None:
            with pytest.raises(ConfigError, match="'trainer.neighbor_sampler"
                               "=pyg' needs pyg-lib or torch_sparse"):
                resolve_neighbor_sampler('pyg', cpu)
        else:
            assert resolve_neighbor_sampler('pyg', cpu) == 'pyg'
    with pytest.raises(ConfigError, match="must be one of"):
        TrainerConfig(neighbor_sampler='dgl').validate()


def test_sampled_settings_that_cannot_work_are_named(data):
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
