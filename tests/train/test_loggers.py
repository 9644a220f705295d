r"""Trackers as a config group: each is tested when its package is
installed, and skipped with the reason when not."""

import pytest

from rmbrec_pyg.cli.builders import compose_config
from rmbrec_pyg.cli.compose import run
from rmbrec_pyg.data.errors import ConfigError

SMALL = ['data.num_users=120', 'data.num_items=80', 'trainer.max_epochs=2',
         'trainer.batch_size=64', 'encoder.embedding_dim=8',
         'trainer.progress=false']


def test_logger_group_composes_several():
    cfg = compose_config(['logger=[tensorboard,mlflow,wandb]'])
    assert set(cfg.logger) == {'tensorboard', 'mlflow', 'wandb'}
    assert cfg.logger.wandb.mode == 'offline'
    assert dict(compose_config().logger) == {}  # csv: files only


def test_missing_package_is_a_config_error():
    from rmbrec_pyg.train.loggers import _require
    with pytest.raises(ConfigError, match="logger 'nope' needs the "
                       "'no_such_package_x' package: pip install "
                       r"'rmbrec_pyg\[nope\]'"):
        _require('no_such_package_x', 'nope')


def test_tensorboard(tmp_path):
    pytest.importorskip('tensorboard', reason='optional extra not installed')
    run(SMALL + ['logger=tensorboard'], out_dir=str(tmp_path))
    assert any((tmp_path / 'tensorboard').iterdir())


def test_mlflow_local_file_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip('mlflow', reason='optional extra '
                                 "'mlflow' not installed")
    monkeypatch.chdir(tmp_path)
    run(SMALL + ['logger=mlflow'], out_dir=str(tmp_path / 'run'))
    store = tmp_path / 'mlruns'
    assert store.is_dir()
    mlflow.set_tracking_uri('file:' + str(store))
    runs = mlflow.search_runs(experiment_names=['rmbrec'],
                              output_format='list')
    assert len(runs) == 1
    data = runs[0].data
    assert 'valid_HR_at_10' in data.metrics and 'final/test/HR_at_10' in \
        data.metrics
    assert data.params['trainer.max_epochs'] == '2'


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip('wandb', reason="optional extra 'wandb' not "
                        'installed')
    monkeypatch.setenv('WANDB_SILENT', 'true')
    monkeypatch.chdir(tmp_path)
    run(SMALL + ['logger=wandb'], out_dir=str(tmp_path / 'run'))
    runs = list((tmp_path / 'run' / 'wandb').glob('offline-run-*'))
    assert len(runs) == 1 and any(runs[0].iterdir())
