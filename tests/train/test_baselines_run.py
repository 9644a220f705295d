r"""The baselines run in the same harness as RMBRec: one override, the same
evaluation, checkpoints that rescore to the same figures."""
import json

import pytest

from rmbrec_pyg.cli.compose import run
from rmbrec_pyg.cli.evaluate import rescore
from rmbrec_pyg.train.checkpoint import load_checkpoint

FAST = ['data.num_users=300', 'data.num_items=200', 'trainer.max_epochs=2',
        'trainer.progress=false', 'trainer.batch_size=100']


@pytest.mark.parametrize('model,cls,behaviors', [
    ('simgcl', 'SimGCL', ['buy']),
    ('pkef', 'PKEF', ['view', 'cart', 'buy']),
])
def test_model_override_trains_and_rescores(tmp_path, model, cls, behaviors):
    out = str(tmp_path / model)
    metrics = run([f'model={model}'] + FAST, out_dir=out)
    assert metrics['best_epoch'] >= 1
    saved = json.loads((tmp_path / model / 'metrics.json').read_text())
    assert saved['test'] == metrics['test']
    best = load_checkpoint(str(tmp_path / model / 'best.pt'))
    assert best['config']['model'] == cls
    assert best['config']['behaviors'] == behaviors
    again = rescore(out)
    for k, v in metrics['test'].items():
        assert again['test'][k] == pytest.approx(v, abs=1e-6)
