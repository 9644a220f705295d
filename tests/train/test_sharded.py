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
import os
import socket
import subprocess
import sys

import pytest
import torch

from rmbrec_pyg.train import sharded

pytestmark = pytest.mark.skipif(
    not sharded.available(),
    reason="torchrec is not installed (make install-dist)")

ARGS = ['data.num_users=400', 'data.num_items=250', 'trainer.max_epochs=3',
        'trainer.batch_size=128', 'encoder.embedding_dim=16',
        'trainer.progress=false', 'trainer.seed=3', 'ablation=plain',
        'trainer.propagation=sampled', 'trainer.tables=sharded',
        'trainer.table_lr=0.05']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _torchrun(world, run_dir, extra=()):
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={world}', '--master_addr=127.0.0.1',
           f'--master_port={_free_port()}', '-m', 'rmbrec_pyg.cli.train',
           *ARGS, *extra, f'hydra.run.dir={run_dir}']
    return subprocess.run(cmd, cwd=run_dir.parent, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def _tables(run_dir):
    state = torch.load(run_dir / 'last.pt', weights_only=False)['encoder']
    return state['user_embedding.weight'], state['item_embedding.weight']


@pytest.mark.slow
def test_two_ranks_match_one(tmp_path):
    runs = {}
    for world in (1, 2):
        res = _torchrun(world, tmp_path / f'w{world}')
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
        runs[world] = _tables(tmp_path / f'w{world}')
    (u1, i1), (u2, i2) = runs[1], runs[2]
    assert torch.allclose(u1, u2, atol=2e-3) and \
        torch.allclose(i1, i2, atol=2e-3)
    # it trained: the tables moved away from their N(0, 0.1) start
    assert u1.std() > 0.11


def test_one_step_is_the_plain_gradient(tmp_path):
    import torch.distributed as dist

    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    os.environ.update(MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(_free_port()))
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
    res = _torchrun(1, tmp_path / 'adam', ['trainer.table_optimizer=adam'])
    assert res.returncode != 0
    assert "'trainer.table_optimizer=adam' needs CUDA" in res.stderr
    assert 'exitcode  : 2' in res.stderr, res.stderr[-3000:]
