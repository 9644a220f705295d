r"""The parts of the GPU step that run on a CPU too: triples drawn on the
device, static shapes (what a CUDA graph captures) and the choice of the
step mode. The capture itself is tested in tests/test_cuda.py."""
import pytest
import torch

from rmbrec_pyg.cli.builders import build_trainer, compose_config
from rmbrec_pyg.data.errors import ConfigError

SMALL = ['data.num_users=300', 'data.num_items=200', 'trainer.batch_size=100',
         'encoder.embedding_dim=16', 'trainer.progress=false',
         'trainer.checkpoint=false']


def test_static_shapes_objective_equals_the_default():
    # Some users of the batch have no target item: the default objective
    # drops their rows from RRM, the static one masks them.
    tr = build_trainer(compose_config(SMALL + ['trainer.sampler=device']))
    assert tr.objective.static_shapes
    users = tr.batches()[0]
    pos, neg, mask = tr.sampler.sample(users)
    mask = mask.clone()
    mask[::3, -1] = False
    out = []
    for static in (False, True):
        tr.objective.static_shapes = static
        tr.encoder.zero_grad()
        total, terms = tr.objective(tr.model, tr.adj, users, pos, neg, mask)
        total.backward()
        out.append((terms, tr.encoder.user_embedding.weight.grad.clone()))
    for k, v in out[0][0].items():
        assert torch.allclose(v, out[1][0][k], rtol=1e-5, atol=1e-6), k
    assert torch.allclose(out[0][1], out[1][1], rtol=1e-4, atol=1e-7)


def test_device_sampler_run_trains_like_the_host_one(tmp_path):
    from rmbrec_pyg.cli.compose import run
    metrics = {}
    for sampler in ('host', 'device'):
        metrics[sampler] = run(SMALL + ['trainer.max_epochs=6',
                                        f'trainer.sampler={sampler}'],
                               out_dir=str(tmp_path / sampler))
    # Same distribution, another random stream: both learn, similarly.
    for m in metrics.values():
        assert m['valid']['HR@10'] > 0.12
    assert abs(metrics['host']['valid']['HR@10'] -
               metrics['device']['valid']['HR@10']) < 0.06
    # and the device stream is seeded: the same run twice is the same.
    again = run(SMALL + ['trainer.max_epochs=6', 'trainer.sampler=device'],
                out_dir=str(tmp_path / 'again'))
    assert again == metrics['device']


def test_step_mode_choice():
    cpu = torch.device('cpu')
    from rmbrec_pyg.train.step import use_device_sampler, use_graph
    assert not use_device_sampler('auto', cpu)
    assert use_device_sampler('device', cpu)
    assert use_device_sampler('auto', torch.device('cuda'))
    assert not use_graph('auto', cpu, True, 0)
    assert use_graph('auto', torch.device('cuda'), True, 0)
    assert not use_graph('auto', torch.device('cuda'), False, 0)  # IRMv2
    assert not use_graph('auto', torch.device('cuda'), True, 1)  # DDP
    assert not use_graph('off', torch.device('cuda'), True, 0)
    with pytest.raises(ConfigError, match="'trainer.compile=graph' needs"):
        use_graph('graph', cpu, True, 0)
    tr = build_trainer(compose_config(SMALL + ['trainer.sampler=device',
                                               'regularizer.orm.mode=irm_v2']))
    assert not tr.objective.static_shapes  # double backward: eager shapes
