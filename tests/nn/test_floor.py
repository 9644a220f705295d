r"""The target floor: a target-only tower and a per-user blend of scores,
part of the model's state, chosen on validation, and ranked the same way by
every tool."""
import json
import os
import subprocess
import sys

import torch

from rmbrec_pyg.nn import ScoreBlend

SMALL = ['data=synthetic_shift', 'data.num_users=300', 'data.num_items=200',
         'trainer.max_epochs=4', 'trainer.batch_size=100',
         'encoder.embedding_dim=16', 'trainer.progress=false', 'floor=tower']


def test_blend_is_a_dot_product_of_concatenations():
    g = torch.Generator().manual_seed(0)
    zu, zi = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    tu, ti = torch.randn(5, 3, generator=g), torch.randn(7, 3, generator=g)
    bar = torch.tensor([0.9, 0.1, 0.6, 0.0, 0.0])
    has_target = torch.tensor([True, True, True, False, True])
    # By default the direct group is the users with no announced purchase
    # (or none at all).
    assert ScoreBlend.from_training_bar(
        bar, has_target).group.tolist() == [0, 0, 0, 1, 1]
    blend = ScoreBlend.from_training_bar(bar, has_target, threshold=0.5)
    assert blend.group.tolist() == [0, 1, 0, 1, 1]
    blend.beta.copy_(torch.tensor([0.25, 0.75]))
    u, i = blend.concat(zu, zi, tu, ti)
    beta = torch.tensor([0.25, 0.75, 0.25, 0.75, 0.75]).view(-1, 1)
    want = (1 - beta) * (zu @ zi.t()) + beta * (tu @ ti.t())
    assert torch.allclose(u @ i.t(), want, atol=1e-6)
    assert blend.demote_users() is None
    blend.demote[1] = True
    assert blend.demote_users().tolist() == [False, True, False, True, True]


def test_floor_run_saves_and_every_tool_ranks_as_evaluated(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    run = tmp_path / 'run'
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.train'] +
                         SMALL + [f'hydra.run.dir={run}'], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((run / 'metrics.json').read_text())
    blend = metrics['blend']
    assert len(blend['beta']) == 2 and sum(blend['users']) == 300
    assert 'loss_tower' in (run / 'metrics.csv').read_text()
    state = torch.load(run / 'best.pt', weights_only=True)
    assert any(k.startswith('target_tower.') for k in state['encoder'])
    assert torch.equal(state['encoder']['blend.beta'],
                       torch.tensor(blend['beta']))
    # rmbrec-evaluate rebuilds the model with its tower and blend, and
    # reproduces the metrics (per-group demotion included).
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.evaluate',
                          str(run), 'output=again.json'], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads((tmp_path / 'again.json').read_text())
    assert again['test'] == metrics['test']
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.recommend',
                          f'checkpoint={run}/best.pt', 'k=5'], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_calibration_searches_see_the_model_alone_first():
    # A best.pt read back holds the blend of an earlier calibration; the
    # searches that run before the blend's (adaptive fusion's mix) must see
    # the model alone, as they do at the end of training.
    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    trainer = build_trainer(compose_config(SMALL + ['fusion=adaptive']),
                            out=None)
    blend = trainer.encoder.blend
    blend.beta.fill_(1.0)
    blend.demote.fill_(True)
    trainer.calibration.remember(trainer.encoder)
    seen = []
    trainer.calibration.searches.insert(0, lambda t: seen.append(
        (t.encoder.blend.beta.tolist(), t.encoder.blend.demote.tolist())))
    trainer.calibration.run(trainer)
    assert seen == [([0.0, 0.0], [False, False])]
