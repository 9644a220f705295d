import pytest
import torch

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset, training_bar
from rmbrec_pyg.evaluation import (RankedLists, aux_evidence_mask,
                                   group_metrics)
from rmbrec_pyg.nn import AdaptiveFusion, MostPopular, MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.train import Trainer, TrainerConfig, seed_everything
from rmbrec_pyg.train.extension_config import FusionConfig


def test_adaptive_fusion_prior_and_penalty():
    f = AdaptiveFusion(['click', 'cart', 'buy'], torch.tensor([0.0, 1., 1.]))
    w = f.weights().detach()
    assert w.sum().item() == pytest.approx(1.0)
    assert w[0] < 0.01 and w[1] == pytest.approx(w[2].item())
    assert f.penalty().item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        f.gate.add_(torch.tensor([3.0, 0.0, 0.0]))
    assert f.penalty().item() > 0.0
    f.reset_parameters()
    assert torch.allclose(f.weights().detach(), w)
    assert 'click=0.001' in repr(f)


def test_most_popular():
    index = torch.tensor([[0, 1, 2, 2], [3, 3, 1, 0]])
    zu, zi = MostPopular(index, 3, 4).get_embedding()
    scores = (zu @ zi.t())[0]
    assert torch.allclose(scores, torch.tensor([1.0, 1.0, 0.0, 2.0]) / 3)


def test_aux_evidence_groups():
    labels = torch.tensor([[0, 1, 2], [1, 1, 0]])
    aux = [torch.tensor([[0, 2], [1, 5]])]
    mask = aux_evidence_mask(labels, aux, 10)
    assert mask.tolist() == [True, False, False]
    lists = RankedLists.per_pair(torch.tensor([0, 30, 3]))
    g = group_metrics(lists, {'aux': mask, 'direct': ~mask}, (10, ))
    assert g['aux']['HR@10'] == 1.0 and g['direct']['HR@10'] == 0.5
    assert g['n_aux'] == 1 and g['n_direct'] == 2


def test_adaptive_trainer_switches_off_misaligned(tmp_path):
    data = SyntheticMultiBehaviorDataset(
        num_users=300, num_items=200,
        aux={'click': {'bar': 0.0, 'volume': 20, 'noise': 1.0},
             'cart': {'bar': 0.5, 'volume': 3, 'noise': 0.1}})[0]
    seed_everything(0)
    enc = MultiBehaviorEncoder(300, 200, data.behaviors, 16, 2)
    tr = Trainer(data, enc, {'rrm': RRM(), 'orm': ORM()},
                 TrainerConfig(max_epochs=3, batch_size=100, progress=False),
                 out_dir=str(tmp_path),
                 fusion=FusionConfig(mode='adaptive', gate='learned'))
    bar = training_bar(data)
    assert bar['click'] < 0.05 and bar['buy'] == 1.0
    assert tr.encoder.fusion is not None  # the encoder owns the fusion
    metrics = tr.fit()
    w = metrics['fusion_weights']
    assert w['click'] < 0.02 and w['cart'] > 0.2
    assert metrics['fusion_alpha'] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert isinstance(metrics['demote_aux'], bool)
    assert 'w_click' in (tmp_path / 'metrics.csv').read_text()
    assert (tmp_path / 'fusion_weights.png').stat().st_size > 1000
    assert 'gate' in tr.history[0] or 'loss_gate' in tr.history[0]


def _adaptive_vs_mean(data, behaviors, gate):
    out = []
    for fusion in (FusionConfig(mode='mean'),
                   FusionConfig(mode='adaptive', gate=gate)):
        seed_everything(0)
        enc = MultiBehaviorEncoder(data['user'].num_nodes,
                                   data['item'].num_nodes, behaviors, 16, 2)
        tr = Trainer(data, enc, {'rrm': RRM(), 'orm': ORM()},
                     TrainerConfig(max_epochs=2, batch_size=100,
                                   progress=False, seed=0), fusion=fusion)
        out.append(tr)
        tr.fit()
    return out


def test_prior_gate_is_computed_and_exact_mean_when_uniform():
    data = SyntheticMultiBehaviorDataset(num_users=200, num_items=150)[0]
    # One auxiliary behavior: the relative-BAR prior is uniform, so
    # computed weights must train exactly as equal fusion.
    mean, adaptive = _adaptive_vs_mean(data, ['cart', 'buy'], 'prior')
    assert not adaptive.encoder.fusion.gate.requires_grad
    assert all(p is not adaptive.encoder.fusion.gate for g in
               adaptive.optimizer.param_groups for p in g['params'])
    for a, b in zip(mean.history, adaptive.history):
        assert a['loss_main'] == b['loss_main']
        assert a['valid_HR@10'] == b['valid_HR@10']
    assert 'loss_gate' not in adaptive.history[0]
    # Three behaviors with different BAR: weights stay at the prior.
    _, adaptive = _adaptive_vs_mean(data, list(data.behaviors), 'prior')
    w = adaptive.encoder.fusion.weights().detach()
    assert torch.allclose(w, adaptive.encoder.fusion.prior)
    assert w[0] != w[1]


def test_fusion_gate_config_is_validated():
    from rmbrec_pyg.train.config import ConfigError
    with pytest.raises(ConfigError, match='fusion.gate'):
        FusionConfig(mode='adaptive', gate='fixed').validate()
