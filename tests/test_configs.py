import os

import pytest
from omegaconf import OmegaConf

from rmbrec_pyg.cli import config_dir
from rmbrec_pyg.cli.compose import compose_config, evaluate, run
from rmbrec_pyg.cli.builders import build_regularizers
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.regularizers import ORM, RRM

CONF = config_dir()


def _options(group):
    return sorted(f[:-5] for f in os.listdir(os.path.join(CONF, group))
                  if f.endswith('.yaml'))


def test_default_config():
    cfg = compose_config()
    assert cfg.data._target_.endswith('SyntheticMultiBehaviorDataset')
    assert cfg.encoder.layer_combination == 'normalized_sum'
    assert cfg.regularizer.rrm.weight == 1.0
    assert cfg.regularizer.orm.mode == 'rex'
    assert cfg.trainer.batch_size == 1024 and cfg.trainer.seed == 2026
    assert cfg.loss.missing == 'filler' and cfg.optim.lr == 1e-3
    regs = build_regularizers(cfg)
    assert isinstance(regs['rrm'], RRM) and isinstance(regs['orm'], ORM)


@pytest.mark.parametrize('group', ['data', 'encoder', 'regularizer', 'loss',
                                   'optim', 'trainer', 'ablation',
                                   'experiment', 'eval', 'logger', 'fusion'])
def test_every_option_composes(group):
    for option in _options(group):
        overrides = [f'{group}={option}']
        text = open(os.path.join(CONF, group, f'{option}.yaml')).read()
        if group == 'data' and ('root' in text or 'folder' in text) or \
                group == 'experiment':
            overrides.append('data.root=/nowhere')
        cfg = compose_config(overrides)
        OmegaConf.to_container(cfg, resolve=True)
        build_regularizers(cfg)


def test_ablation_semantics():
    cfg = compose_config(['ablation=lightgcn'])
    assert list(cfg.behaviors) == ['buy'] and 'rrm' not in cfg.regularizer
    assert cfg.optim.weight_decay == 0 and cfg.loss.emb_reg_on == 'base'
    assert cfg.encoder.layer_combination == 'mean'
    assert compose_config(['ablation=no_rrm']).regularizer.rrm.weight == 0
    assert compose_config(['ablation=orm_irm_v2']).regularizer.orm.mode == \
        'irm_v2'
    paper = compose_config(['ablation=paper_text'])
    assert paper.regularizer.rrm.variant == 'paper'
    assert paper.loss.missing == 'mask' and paper.loss.emb_reg_on == 'base'


def test_experiment_taobao_noview():
    cfg = compose_config(['experiment=taobao_noview', 'data.root=/x'])
    assert cfg.data._target_.endswith('MultiBehaviorDataset')
    assert list(cfg.data.behaviors) == ['cart', 'buy']
    assert cfg.regularizer.rrm.weight == 1.0
    assert cfg.regularizer.rrm.temperature == 0.07
    assert cfg.regularizer.orm.weight == 1.0
    assert cfg.encoder.embedding_dim == 64 and cfg.encoder.num_layers == 3
    assert cfg.trainer.batch_size == 1024 and cfg.trainer.patience == 20
    assert cfg.trainer.max_epochs == 200 and cfg.optim.weight_decay == 1e-3


def test_structured_schema_rejects_bad_types():
    with pytest.raises(Exception, match='max_epochs'):
        compose_config(['trainer.max_epochs=abc'])


def test_train_in_process_and_evaluate_checkpoint(tmp_path):
    overrides = ['data.num_users=120', 'data.num_items=80',
                 'trainer.max_epochs=2', 'trainer.batch_size=64',
                 'trainer.progress=false', 'encoder.embedding_dim=8']
    metrics = run(overrides, out_dir=str(tmp_path))
    assert metrics['best_epoch'] in (1, 2)
    assert (tmp_path / 'metrics.json').exists()
    assert (tmp_path / 'config_resolved.yaml').exists()
    again = evaluate(overrides, str(tmp_path / 'best.pt'))
    assert again['test'] == pytest.approx(metrics['test'], abs=1e-6)
    assert again['test_groups']['n_aux'] == \
        metrics['test_groups']['n_aux']
    from rmbrec_pyg.data.errors import CheckpointError
    with pytest.raises(CheckpointError, match='the weights do not fit the '
                       'model'):  # another architecture
        evaluate(overrides[:-1] + ['encoder.embedding_dim=4'],
                 str(tmp_path / 'best.pt'))


def test_configs_ship_in_the_wheel():
    # pyproject maps conf/ to the package rmbrec_pyg.conf with '*.yaml' and
    # '*/*.yaml' as package data: configs must not sit deeper than that.
    root = os.path.dirname(CONF)
    text = open(os.path.join(root, 'pyproject.toml')).read()
    assert '"rmbrec_pyg.conf" = "conf"' in text
    for dirpath, _, files in os.walk(CONF):
        depth = os.path.relpath(dirpath, CONF).count(os.sep) + (
            dirpath != CONF)
        assert depth <= 1 or not any(f.endswith('.yaml') for f in files)


def test_most_popular_baseline_in_process(tmp_path):
    metrics = run(['ablation=most_popular', 'data.num_users=120',
                   'data.num_items=80'], out_dir=str(tmp_path))
    assert metrics['best_epoch'] == 0 and 0 < metrics['test']['HR@20'] <= 1
    assert 'test_groups' in metrics
    # It has no Trainer, so no checkpoint to evaluate either.
    with pytest.raises(ConfigError, match='not trained'):
        evaluate(['ablation=most_popular'], str(tmp_path / 'best.pt'))
