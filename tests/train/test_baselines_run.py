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


def test_mbcgcn_pretraining_runs_once_and_resumes(tmp_path):
    args = ['model=mbcgcn', 'encoder.pretrain_epochs=3',
            'encoder.embedding_dim=16', 'trainer.pretrain_eval_every=1'
            ] + FAST[:2] + [
            'trainer.progress=false', 'trainer.batch_size=100']
    full = run(args + ['trainer.max_epochs=4'], out_dir=str(tmp_path / 'a'))
    assert full['pretrain']['epochs'] == 3
    assert 1 <= full['pretrain']['best_epoch'] <= 3
    assert 'HR@10' in full['pretrain']['valid']
    rows = (tmp_path / 'a' / 'pretrain.csv').read_text().splitlines()
    assert rows[0] == 'epoch,loss_total,valid_HR@10' and len(rows) == 4
    # Stopped after two epochs and resumed: the pre-training is not redone
    # (it would move the embeddings and the random draws), so the run ends
    # as the uninterrupted one.
    out = str(tmp_path / 'b')
    run(args + ['trainer.max_epochs=2'], out_dir=out)
    resumed = run(args + ['trainer.max_epochs=4', 'trainer.resume=true'],
                  out_dir=out)
    assert resumed == full
    # Without pre-training the same seed trains from other embeddings.
    scratch = run(args[:1] + ['encoder.pretrain_epochs=0'] + args[2:] +
                  ['trainer.max_epochs=4'], out_dir=str(tmp_path / 'c'))
    assert 'pretrain' not in scratch and scratch['valid'] != full['valid']
