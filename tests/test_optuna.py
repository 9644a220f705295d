r"""``hparams_search=optuna``: Hydra's Optuna sweeper over lambda1, lambda2,
the temperature and the learning rate, in a SQLite study that a second
invocation continues; ``rmbrec-report`` summarises it with trials.png.
Skipped without the optional extra (pip install 'rmbrec_pyg[optuna]')."""
import os
import subprocess
import sys

import pytest

from rmbrec_pyg.cli.builders import compose_config

SMALL = ['data.num_users=120', 'data.num_items=80', 'trainer.max_epochs=1',
         'trainer.batch_size=64', 'encoder.embedding_dim=8',
         'trainer.progress=false']


def _plugin():
    pytest.importorskip('hydra_plugins.hydra_optuna_sweeper',
                        reason="optional extra 'optuna' not installed")


def test_search_space():
    _plugin()
    cfg = compose_config(['hparams_search=optuna'])
    assert cfg.trainer.monitor == 'HR@10'  # the objective rmbrec-train returns


@pytest.mark.slow
def test_optuna_search_resumes_and_reports(tmp_path):
    _plugin()
    env = dict(os.environ, OMP_NUM_THREADS='1')
    storage = f'sqlite:///{tmp_path}/study.db'

    def search(name):
        res = subprocess.run(
            [sys.executable, '-m', 'rmbrec_pyg.cli.train',
             'hparams_search=optuna', 'hydra.sweeper.n_trials=2',
             f'hydra.sweeper.storage={storage}',
             f'hydra.sweep.dir={tmp_path}/{name}'] + SMALL,
            cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return res

    search('first')
    search('second')  # the same study: two more trials
    import optuna
    study = optuna.load_study(study_name='rmbrec', storage=storage)
    assert len(study.trials) == 4
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.report',
                          str(tmp_path / 'second')], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert 'trials.png' in res.stdout
    assert "Optuna's best trial" in (tmp_path / 'second' /
                                     'report.md').read_text()
    assert (tmp_path / 'second' / 'trials.png').stat().st_size > 1000


def test_missing_sweeper_is_one_line(tmp_path):
    try:
        import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
        pytest.skip('the sweeper is installed')
    except ImportError:
        pass
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.train',
                          'hparams_search=optuna'] + SMALL, cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "pip install 'rmbrec_pyg[optuna]'" in \
        res.stderr
