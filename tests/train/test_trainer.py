import json

import pytest
import torch

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.train import (LossConfig, Trainer, TrainerConfig,
                              seed_everything)
from rmbrec_pyg.evaluation import EvalConfig, metric_names
from rmbrec_pyg.train.checkpoint import load_checkpoint as load

SMALL = dict(num_users=400, num_items=250, target_per_user=6.0)


def _trainer(data, behaviors=None, regs=True, out=None, epochs=3,
             combination='normalized_sum', seed=0, **trainer_kw):
    seed_everything(seed)
    behaviors = behaviors or list(data.behaviors)
    enc = MultiBehaviorEncoder(data['user'].num_nodes,
                               data['item'].num_nodes, behaviors, 16, 2,
                               layer_combination=combination)
    reg = {'rrm': RRM(1.0), 'orm': ORM(1.0)} if regs else {}
    cfg = TrainerConfig(max_epochs=epochs, batch_size=128, progress=False,
                        seed=seed, **trainer_kw)
    return Trainer(data, enc, reg, cfg, out_dir=out)


@pytest.fixture(scope='module')
def small():
    return SyntheticMultiBehaviorDataset(**SMALL)[0]


def test_step_terms(small):
    tr = _trainer(small)
    total, terms = tr.step(torch.arange(64))
    assert set(terms) >= {'main', 'reg', 'rrm', 'orm', 'bpr_view',
                          'bpr_cart', 'bpr_buy', 'total'}
    assert torch.isclose(total.detach(), terms['main'] + 1e-3 * terms['reg']
                         + terms['rrm'] + terms['orm'])
    total.backward()
    assert tr.encoder.user_embedding.weight.grad.abs().sum() > 0


def test_fit_writes_run_dir(small, tmp_path):
    tr = _trainer(small, out=str(tmp_path))
    metrics = tr.fit()
    assert metrics['best_epoch'] >= 1
    assert list(metrics['valid']) == metric_names([10, 20])
    assert metrics['protocol'] == 'user/full'
    with open(tmp_path / 'metrics.json') as f:
        assert json.load(f) == json.loads(json.dumps(metrics))
    lines = (tmp_path / 'metrics.csv').read_text().splitlines()
    assert len(lines) == 4 and 'loss_rrm' in lines[0]
    best = load(str(tmp_path / 'best.pt'))
    assert best['epoch'] == metrics['best_epoch']
    assert best['config']['behaviors'] == ['view', 'cart', 'buy']
    last = load(str(tmp_path / 'last.pt'))
    assert last['epoch'] == 3 and 'optimizer' in last and 'generator' in last


def test_test_metrics_come_from_best_epoch(small):
    tr = _trainer(small, epochs=4)
    metrics = tr.fit()
    best_row = tr.history[metrics['best_epoch'] - 1]
    assert best_row['valid_HR@10'] == metrics['valid']['HR@10']
    assert max(r['valid_HR@10'] for r in tr.history) == \
        metrics['valid']['HR@10']


def test_same_seed_same_metrics(small):
    a = _trainer(small, seed=7).fit()
    b = _trainer(small, seed=7).fit()
    assert a == b


def test_early_stopping(small):
    tr = _trainer(small, epochs=50, patience=0, regs=False)
    tr.fit()
    assert tr.epoch <= 50
    assert tr.epoch - tr.best['epoch'] <= 1


def test_irm_v2_trains(small):
    seed_everything(0)
    enc = MultiBehaviorEncoder(small['user'].num_nodes,
                               small['item'].num_nodes, small.behaviors, 8, 1)
    tr = Trainer(small, enc, {'orm': ORM(mode='irm_v2')},
                 TrainerConfig(max_epochs=1, batch_size=200, progress=False))
    assert tr.encoder.fused is False
    assert tr.fit()['best_epoch'] == 1


def test_loss_config_validation():
    with pytest.raises(ValueError, match="'loss.missing' must be"):
        LossConfig(missing='zero').validate()
    with pytest.raises(ValueError, match="'trainer.monitor' must be one of"):
        EvalConfig().check_monitor('HR@5')
    with pytest.raises(ValueError, match="'eval.ks' must be positive"):
        EvalConfig(ks=[0]).validate()
    with pytest.raises(ValueError, match="'eval.protocol' must be one of"):
        EvalConfig(protocol='item').validate()
    with pytest.raises(ValueError, match="'eval.negatives' must be null"):
        EvalConfig(negatives='uniform:-3').validate()
    with pytest.raises(ValueError, match="'eval.metrics' must name"):
        EvalConfig(metrics=['AUC']).validate()


@pytest.mark.slow
def test_rmbrec_beats_target_only_lightgcn():
    # The demo data is built so that auxiliary behaviors carry target
    # signal: RMBRec must clearly beat LightGCN on the purchases alone.
    data = SyntheticMultiBehaviorDataset()[0]
    rmb = _trainer(data, epochs=15).fit()
    lgn = _trainer(data, behaviors=['buy'], regs=False, epochs=40,
                   combination='mean').fit()
    assert rmb['test']['HR@10'] > lgn['test']['HR@10'] + 0.05
    assert rmb['test']['NDCG@10'] > lgn['test']['NDCG@10']


def test_nan_loss_stops_and_keeps_last_good_checkpoint(small, tmp_path):
    from rmbrec_pyg.regularizers import Regularizer
    from rmbrec_pyg.train import TrainingDivergedError

    class Explodes(Regularizer):
        calls = 0

        def forward(self, inputs):
            Explodes.calls += 1
            bad = Explodes.calls > 4  # 4 batches per epoch: epoch 2 fails
            return inputs.user_emb.sum() * (float('nan') if bad else 0.0)

    seed_everything(0)
    enc = MultiBehaviorEncoder(small['user'].num_nodes,
                               small['item'].num_nodes, small.behaviors, 8, 1)
    tr = Trainer(small, enc, {'boom': Explodes(1.0)},
                 TrainerConfig(max_epochs=5, batch_size=100, progress=False),
                 out_dir=str(tmp_path))
    with pytest.raises(TrainingDivergedError,
                       match=r"loss term 'boom' became nan in epoch 2"):
        tr.fit()
    assert load(str(tmp_path / 'last.pt'))['epoch'] == 1


def test_steps_per_epoch_fixes_the_number_of_steps(small):
    from rmbrec_pyg.data.errors import ConfigError
    tr = _trainer(small, steps_per_epoch=3)
    batches = tr.batches()
    assert len(batches) == 3 and tr.batch_size == 134  # ceil(400 / 3)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(400))
    assert len(_trainer(small).batches()) == 4  # batch_size=128 decides
    with pytest.raises(ConfigError, match="'trainer.steps_per_epoch' must "
                       "be >= 0"):
        TrainerConfig(steps_per_epoch=-1).validate()
