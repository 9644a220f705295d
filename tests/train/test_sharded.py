r"""Sharded embedding tables (torchrec, ``trainer.tables=sharded``).

The tables' fused optimizer updates rows inside the backward, so the test
of the gradient path uses SGD with learning rate 1: one step moves every
row by minus its gradient, which must equal the gradient of the same loss
on the plain encoder (sampled propagation with every neighbour). The 2-rank
run must end where the 1-rank run ends, to float tolerance: each rank
samples its half of every batch, the tables sum the halves' gradients
scaled by 1/2, and Adagrad's first steps (+-lr per coordinate) amplify
float summation-order differences a little, hence 2e-3 on the tables.
"""
import pytest
import torch

from rmbrec_pyg.testing import (SHARDED_ARGS, free_port,
                                sharded_ranks_difference, torchrun_train)
from rmbrec_pyg.train import sharded
from rmbrec_pyg.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(
    not sharded.available(),
    reason="torchrec is not installed (make install-dist)")


@pytest.mark.slow
def test_two_ranks_match_one(tmp_path):
    assert sharded_ranks_difference(str(tmp_path)) < 2e-3
    # it trained: the tables moved away from their N(0, 0.1) start
    user = load_checkpoint(str(tmp_path / 'world1' / 'last.pt'))[
        'encoder']['user_embedding.weight']
    assert user.std() > 0.11


def test_one_step_is_the_plain_gradient(monkeypatch):
    import torch.distributed as dist

    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    dist.init_process_group('gloo', rank=0, world_size=1)
    try:
        common = ['data.num_users=120', 'data.num_items=80',
                  'encoder.embedding_dim=8', 'trainer.progress=false',
                  'trainer.propagation=sampled', 'trainer.fanout=-1']
        shard = build_trainer(compose_config(
            common + ['trainer.tables=sharded', 'trainer.table_optimizer=sgd',
                      'trainer.table_lr=1.0']))
        plain = build_trainer(compose_config(common))
        # the same start (same seed) and the same batch and triples
        for name in ('user_embedding', 'item_embedding'):
            assert torch.equal(getattr(shard.encoder, name).weight,
                               getattr(plain.encoder, name).weight)
        start = [shard.encoder.user_embedding.weight.detach().clone(),
                 shard.encoder.item_embedding.weight.detach().clone()]
        users = shard.batches()[0]
        loss_s, _ = shard.step(users)
        loss_s.backward()  # SGD(lr=1) applied in the backward
        users_p = plain.batches()[0]
        assert torch.equal(users, users_p)
        loss_p, _ = plain.step(users_p)
        loss_p.backward()
        assert torch.allclose(loss_s, loss_p)
        sharded.pull_tables(shard.model, shard.encoder)
        moved = [start[0] - shard.encoder.user_embedding.weight,
                 start[1] - shard.encoder.item_embedding.weight]
        grads = [plain.encoder.user_embedding.weight.grad,
                 plain.encoder.item_embedding.weight.grad]
        for m, g in zip(moved, grads):
            assert g.abs().sum() > 0
            assert torch.allclose(m, g, atol=1e-6)
    finally:
        dist.destroy_process_group()


def test_adam_on_cpu_is_refused(tmp_path):
    # The rank exits 2 with one line; torchrun itself then reports 1.
    res = torchrun_train(1, str(tmp_path / 'adam'),
                         SHARDED_ARGS + ['trainer.table_optimizer=adam'])
    assert res.returncode != 0
    assert "'trainer.table_optimizer=adam' needs CUDA" in res.stderr
    assert 'exitcode  : 2' in res.stderr, res.stderr[-3000:]


def test_a_killed_sharded_run_resumes_as_uninterrupted(tmp_path):
    # last.pt holds the whole tables (pulled to rank 0) and the fused
    # optimizer's state gathered from every rank's shards; a resume pushes
    # both back into the shards
    whole, part = tmp_path / 'whole', tmp_path / 'part'
    for run_dir, extra in [(whole, []), (part, ['trainer.max_epochs=2']),
                           (part, ['trainer.resume=true'])]:
        res = torchrun_train(2, str(run_dir), list(SHARDED_ARGS) + extra)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    a = load_checkpoint(str(whole / 'last.pt'))
    b = load_checkpoint(str(part / 'last.pt'))
    assert a['epoch'] == b['epoch'] == 3
    assert set(a['optimizer']) == {'user.momentum1', 'item.momentum1'}
    for k, v in a['optimizer'].items():
        assert torch.equal(v, b['optimizer'][k]), k
    for k, v in a['encoder'].items():
        assert torch.equal(v, b['encoder'][k]), k
