r"""Replicated tables with their own optimizer over sparse gradients
(trainer.table_optimizer with sampled propagation): Adam where every row
has a gradient, only the looked-up rows otherwise, the gradients of the
dense path, and a run that resumes as it would have gone on."""
import pytest
import torch

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.graph.neighborhood import (NeighborhoodSampler,
                                           pyg_sampler_backend)
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.train import LossConfig, Trainer, TrainerConfig, \
    seed_everything
from rmbrec_pyg.testing import rmbrec_batch
from rmbrec_pyg.train.sparse_tables import Optimizers, RowAdam

U, I = 300, 200  # noqa: E741 (users, items)


@pytest.fixture(scope='module')
def data():
    return SyntheticMultiBehaviorDataset(num_users=U, num_items=I)[0]


def test_row_adam_is_adam_when_every_row_has_a_gradient():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(50, 8))
    b = torch.nn.Parameter(a.detach().clone())
    adam = torch.optim.Adam([a], lr=0.01, weight_decay=1e-3)
    rows = RowAdam([b], lr=0.01, weight_decay=1e-3)
    for _ in range(5):
        g = torch.randn(50, 8)
        a.grad, b.grad = g.clone(), g.to_sparse(1)  # every row present
        adam.step()
        rows.step()
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.equal(a, torch.zeros_like(a))


def test_row_adam_moves_only_the_looked_up_rows():
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(10, 4))
    before = table.detach().clone()
    opt = RowAdam([table], lr=0.1, weight_decay=0.5)
    idx = torch.tensor([3, 1, 3])  # a repeated row: its gradients add up
    out = torch.nn.functional.embedding(idx, table, sparse=True)
    (out * torch.arange(12.).view(3, 4)).sum().backward()
    assert table.grad.is_sparse
    opt.step()
    moved = (table.detach() != before).any(1)
    assert moved.tolist() == [i in (1, 3) for i in range(10)]
    state = opt.state[table]
    assert (state['moments'][moved.logical_not()] == 0).all()
    # the moved rows took Adam's step on their summed gradient
    sub = torch.nn.Parameter(before[[1, 3]].clone())
    ref = torch.optim.Adam([sub], lr=0.1, weight_decay=0.5)
    sub.grad = torch.stack([torch.arange(4, 8.), torch.arange(0, 4.) +
                            torch.arange(8, 12.)])
    ref.step()
    assert torch.allclose(table.detach()[[1, 3]], sub.detach(), atol=1e-6)


def _edges(data):
    return {b: data['user', b, 'item'].edge_index for b in data.behaviors}


def test_sparse_table_gradients_equal_the_dense_ones(data):
    enc, adj, obj, batch = rmbrec_batch(data, 3)
    grads = []
    for sparse in (False, True):
        enc.user_embedding.sparse = enc.item_embedding.sparse = sparse
        enc.zero_grad()
        sampler = NeighborhoodSampler(
            adj, 3, fanout=2, generator=torch.Generator().manual_seed(1))
        obj(enc, sampler, *batch)[0].backward()
        grads.append([enc.user_embedding.weight.grad,
                      enc.item_embedding.weight.grad])
    for dense, sparse in zip(*grads):
        assert sparse.is_sparse and not dense.is_sparse
        assert torch.allclose(dense, sparse.to_dense(), atol=1e-7)
        assert dense.abs().sum() > 0


def _trainer(data, out=None, epochs=2, **kw):
    seed_everything(0)
    enc = MultiBehaviorEncoder(U, I, list(data.behaviors), 16, 2)
    cfg = TrainerConfig(max_epochs=epochs, batch_size=128, progress=False,
                        seed=0, propagation='sampled', fanout=2,
                        patience=100, **kw)
    return Trainer(data, enc, {'rrm': RRM(1.0), 'orm': ORM(1.0)}, cfg,
                   out_dir=out)


@pytest.mark.parametrize('name,sampler', [
    ('auto', 'torch'), ('adam', 'torch'), ('adagrad', 'torch'),
    ('sgd', 'torch'), pytest.param('adam', 'pyg', marks=pytest.mark.skipif(
        pyg_sampler_backend() is None, reason="PyG's neighbour sampler "
        'needs pyg-lib or torch_sparse, and neither is installed'))])
def test_a_sampled_run_trains_and_resumes_as_uninterrupted(data, tmp_path,
                                                       name, sampler):
    # 'auto': the tables in the run's Adam (dense gradients); the sampled
    # neighbourhoods' random stream (the torch sampler's own, or torch's
    # global one for PyG's) is checkpointed with the run either way
    kw = dict(table_optimizer=name, neighbor_sampler=sampler)
    whole = _trainer(data, epochs=3, table_lr=0.01, **kw)
    assert isinstance(whole.optimizer, Optimizers) == (name != 'auto')
    whole.fit()
    start = [p.detach().clone() for p in _trainer(
        data, **kw).encoder.parameters()]
    assert any(not torch.equal(a, b) for a, b in
               zip(start, whole.encoder.parameters()))
    _trainer(data, out=str(tmp_path), epochs=2, table_lr=0.01, **kw).fit()
    resumed = _trainer(data, out=str(tmp_path), epochs=3, table_lr=0.01,
                       resume=True, **kw)
    resumed.fit()
    for a, b in zip(whole.encoder.parameters(),
                    resumed.encoder.parameters()):
        assert torch.equal(a, b)


def test_what_sparse_tables_cannot_take_is_named(data):
    with pytest.raises(ConfigError, match='does not support '
                       'loss.emb_reg_on=base'):
        seed_everything(0)
        enc = MultiBehaviorEncoder(U, I, list(data.behaviors), 16, 2)
        Trainer(data, enc, {}, TrainerConfig(
            propagation='sampled', fanout=2, table_optimizer='adam',
            progress=False), loss=LossConfig(emb_reg_on='base'))
    with pytest.raises(ConfigError, match="needs 'trainer.propagation="
                       "sampled'"):
        TrainerConfig(table_optimizer='sgd').validate()
