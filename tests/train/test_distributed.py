r"""DistributedDataParallel on 2 CPU processes (gloo) against 1 process.

Every rank draws the same global batch and the same triples, takes half,
and DDP averages the gradients. For the plain model (no RRM/ORM, filler
mode) the loss of a batch is then exactly the mean of the two halves'
losses, so world size 2 with per-rank batch B/2 equals world size 1 with
batch B up to float summation order: we allow 0.01 on HR@10 (a handful of
the 400 validation users). RRM's in-batch negatives and ORM's variance are
computed per half, a slightly different objective; for full RMBRec we allow
0.05.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from rmbrec_pyg.testing import torchrun_train

ARGS = ['data.num_users=400', 'data.num_items=250', 'trainer.max_epochs=4',
        'trainer.batch_size=128', 'encoder.embedding_dim=16',
        'trainer.progress=false', 'trainer.seed=3']


def _run(world, run_dir, extra, cwd):
    # run_dir lies in cwd (torchrun_train runs in the run dir's parent)
    if world == 1:
        res = subprocess.run(
            [sys.executable, '-m', 'rmbrec_pyg.cli.train'] + ARGS + extra +
            [f'hydra.run.dir={run_dir}'], cwd=cwd, capture_output=True,
            text=True, timeout=300,
            env=dict(os.environ, OMP_NUM_THREADS='1'))
    else:
        res = torchrun_train(world, str(run_dir), ARGS + extra)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    if world > 1:  # every rank joins; only rank 0 logs the run
        out = res.stdout + res.stderr
        assert f'distributed: rank {world - 1} of {world}' in out
        assert out.count('device: cpu, run dir:') == 1, out[-4000:]
        log = (run_dir / 'train.log').read_text()  # one start a launch
        assert log.count('behaviors: [') == \
            log.count('distributed: rank 0 of') >= 1, log
    return json.loads((run_dir / 'metrics.json').read_text())


@pytest.mark.slow
@pytest.mark.parametrize('extra,tol', [(['ablation=plain'], 0.01),
                                       ([], 0.05)])
def test_ddp_two_ranks_matches_one(tmp_path, extra, tol):
    one = _run(1, tmp_path / 'one', extra, tmp_path)
    two = _run(2, tmp_path / 'two', extra, tmp_path)
    for split in ('valid', 'test'):
        for k in ('HR@10', 'NDCG@10'):
            assert abs(one[split][k] - two[split][k]) <= tol, (split, k,
                                                              one, two)


@pytest.mark.slow
@pytest.mark.parametrize('extra', [
    [], ['trainer.propagation=sampled', 'trainer.fanout=2']])
def test_a_killed_two_rank_run_resumes_as_uninterrupted(tmp_path, extra):
    # every rank reads rank 0's last.pt: the shared batch and triple
    # streams, the encoder, Adam's moments (equal on every rank), the
    # history, and each rank's own streams (its neighbourhood draws), so
    # the resumed run ends where the whole one ends
    from rmbrec_pyg.train.checkpoint import load_checkpoint
    whole, part = tmp_path / 'whole', tmp_path / 'part'
    _run(2, whole, extra, tmp_path)
    _run(2, part, extra + ['trainer.max_epochs=2'], tmp_path)
    _run(2, part, extra + ['trainer.resume=true'], tmp_path)
    a = load_checkpoint(str(whole / 'last.pt'))
    b = load_checkpoint(str(part / 'last.pt'))
    assert a['epoch'] == b['epoch'] == 4
    for k, v in a['encoder'].items():
        assert torch.equal(v, b['encoder'][k]), k
    assert json.loads((whole / 'metrics.json').read_text())['test'] == \
        json.loads((part / 'metrics.json').read_text())['test']
    if extra:  # its streams are per rank: on another world size, refused
        res = subprocess.run(
            [sys.executable, '-m', 'rmbrec_pyg.cli.train'] + ARGS + extra +
            ['trainer.max_epochs=5', 'trainer.resume=true',
             f'hydra.run.dir={part}'], cwd=tmp_path, capture_output=True,
            text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
        assert res.returncode == 2, res.stderr[-2000:]
        assert 'the run was trained on 2 ranks and resumes on 1 rank; ' \
            'resume it on 2 ranks' in res.stderr
    else:  # and a one-process run is not resumed on 2 ranks
        _run(1, tmp_path / 'single', ['trainer.max_epochs=2'], tmp_path)
        res = torchrun_train(2, str(tmp_path / 'single'),
                             ARGS + ['trainer.resume=true'])
        assert res.returncode != 0
        assert 'the run was trained on 1 rank and resumes on 2 ranks; ' \
            'resume it on 1 rank' in res.stderr
