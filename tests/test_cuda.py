r"""The GPU path. These tests skip without a CUDA device and without
``RMBREC_TEST_CUDA=1`` (see conftest.py); ``benchmarks/gpu.sh`` runs them:

    RMBREC_TEST_CUDA=1 python -m pytest -m cuda

What runs on the CPU of the same mechanisms (the device sampler, static
shapes) is tested in tests/train/test_step.py."""
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.cuda

SMALL = ['data.num_users=400', 'data.num_items=250', 'trainer.batch_size=100',
         'encoder.embedding_dim=16', 'trainer.progress=false',
         'trainer.checkpoint=false', 'trainer.device=cuda']


def _trainer(extra):
    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    return build_trainer(compose_config(SMALL + list(extra)))


def test_device_step_has_no_host_sync(cuda):
    tr = _trainer(['trainer.compile=off'])
    assert tr.on_device and tr.objective.static_shapes
    users = tr.batches()[0]
    tr.runner(users)  # first step: lazy initialisation may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        for users in tr.batches()[:3]:
            tr.runner(users)
    finally:
        torch.cuda.set_sync_debug_mode('default')


def test_graph_replay_trains_like_eager(cuda):
    torch.manual_seed(0)
    eager = _trainer(['trainer.compile=off', 'trainer.max_epochs=6'])
    eager_metrics = eager.fit()
    torch.manual_seed(0)
    graph = _trainer(['trainer.compile=graph', 'trainer.max_epochs=6'])
    graph_metrics = graph.fit()
    assert graph.runner.graph is not None  # captured, and replayed
    a, b = eager.history[0], graph.history[0]
    for key in ('loss_main', 'loss_rrm', 'loss_orm'):
        assert b[key] == pytest.approx(a[key], rel=0.05), key
    assert abs(graph_metrics['valid']['HR@10'] -
               eager_metrics['valid']['HR@10']) < 0.05


def test_auto_uses_graphs_on_cuda(cuda):
    tr = _trainer([])
    assert tr.runner.graph_mode and tr.on_device
    assert tr.evaluator.candidates == 0  # no pre-pass on CUDA


def test_evaluation_on_cuda_matches_cpu(cuda):
    from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
    from rmbrec_pyg.evaluation import EvalConfig, Evaluator
    data = SyntheticMultiBehaviorDataset(num_users=300, num_items=200,
                                         heldout_per_user=2)[0]
    g = torch.Generator().manual_seed(0)
    zu, zi = torch.randn(300, 16, generator=g), torch.randn(200, 16,
                                                           generator=g)
    cpu = Evaluator(data, EvalConfig(precision='fp32', candidates=0))(zu, zi)
    gpu = Evaluator(data, EvalConfig(), cuda)(zu.to(cuda), zi.to(cuda))
    for split in ('val', 'test'):
        for k, v in cpu[split].items():
            assert gpu[split][k] == pytest.approx(v, abs=2e-3), (split, k)


def test_cli_trains_on_cuda(cuda, tmp_path):
    env = dict(os.environ, RMBREC_TEST_CUDA='1')
    res = subprocess.run(
        [sys.executable, '-m', 'rmbrec_pyg.cli.train'] + SMALL +
        ['trainer.max_epochs=2', f'hydra.run.dir={tmp_path}/run'],
        capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'device: cuda' in (tmp_path / 'run' / 'train.log').read_text()
