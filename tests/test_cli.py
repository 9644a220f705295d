import glob
import json
import os
import subprocess
import sys

import pytest

from rmbrec_pyg.evaluation import metric_names

FAST = ['trainer.batch_size=64', 'encoder.embedding_dim=8',
        'trainer.progress=false']
SMALL = ['data.num_users=120', 'data.num_items=80'] + FAST


def _train(args, cwd, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.train'] +
                         args, cwd=cwd, capture_output=True, text=True,
                         env=env)
    if check and res.returncode != 0:
        raise AssertionError(res.stdout + res.stderr)
    return res


def test_train_cli_writes_run_dir(tmp_path):
    run_dir = tmp_path / 'run'
    res = _train(SMALL + ['trainer.max_epochs=2', f'hydra.run.dir={run_dir}'],
                 tmp_path)
    assert 'test (best validation epoch' in res.stdout
    assert 'user/full' in res.stdout
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert set(metrics) == {'best_epoch', 'protocol', 'valid', 'test',
                            'valid_groups', 'test_groups'}
    assert metrics['protocol'] == 'user/full'
    groups = metrics['test_groups']
    assert groups['n_aux'] + groups['n_direct'] == 120
    assert groups['n_cold'] == 0
    assert 'cold' not in groups  # no users: no metrics, not zeros
    assert set(groups['direct']) == set(metrics['test'])
    assert list(metrics['test']) == metric_names([10, 20])
    assert 0.0 <= metrics['test']['HR@10'] <= 1.0
    assert (run_dir / 'best.pt').exists()
    assert (run_dir / 'config_resolved.yaml').exists()
    assert (run_dir / '.hydra' / 'config.yaml').exists()
    assert 'epoch   1 |' in (run_dir / 'train.log').read_text()


def test_lambda_sweep_multirun(tmp_path):
    sweep_dir = tmp_path / 'sweep'
    _train(SMALL + ['trainer.max_epochs=1', 'sweep=lambda_grid',
                    'hydra.sweeper.params={regularizer.rrm.weight:"0.1,1.0",'
                    'regularizer.orm.weight:"0.1,1.0"}',
                    f'hydra.sweep.dir={sweep_dir}'], tmp_path)
    dirs = sorted(os.path.basename(os.path.dirname(p)) for p in
                  glob.glob(str(sweep_dir / '*' / 'metrics.json')))
    assert len(dirs) == 4
    # one folder per cell, named after its overrides
    for cell in ('regularizer.orm.weight=0.1,regularizer.rrm.weight=0.1',
                 'regularizer.orm.weight=1.0,regularizer.rrm.weight=0.1',
                 'regularizer.orm.weight=0.1,regularizer.rrm.weight=1.0',
                 'regularizer.orm.weight=1.0,regularizer.rrm.weight=1.0'):
        assert sum(cell in d for d in dirs) == 1


@pytest.mark.parametrize('args,match', [
    (['data=folder', 'data.root=/no/such/dir'], 'dataset folder does not '
     'exist'),
    (['regularizer.rrm.weight=-1'], "'weight' must be >= 0"),
    (['regularizer.orm.mode=dro'], "'mode' must be one of"),
    (['eval.ks=[0,10]'], "'eval.ks' must be positive"),
    (['eval.negatives=uniform'], "'eval.negatives' must be null"),
    (['trainer.monitor=AUC@10'], "'trainer.monitor' must be one of"),
])
def test_cli_user_errors(tmp_path, args, match):
    base = FAST if args[0].startswith('data=') else SMALL
    res = _train(base + args + [f'hydra.run.dir={tmp_path}/r'], tmp_path,
                 check=False)
    assert res.returncode == 2, res.stderr
    assert 'Traceback' not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith('rmbrec-train: error:') and match in last


@pytest.mark.dataset
def test_taobao_noview_one_epoch(tmp_path, taobao_noview):
    run_dir = tmp_path / 'run'
    _train(['data=folder', f'data.root={taobao_noview}',
            'trainer.max_epochs=1', 'trainer.progress=false',
            f'hydra.run.dir={run_dir}'], tmp_path)
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['best_epoch'] == 1
    assert metrics['test']['HR@10'] > 0.02


@pytest.mark.parametrize('args,match', [
    (['data=nosuchpreset'], "Could not find 'data/nosuchpreset'"),
    (['trainer.max_epochs=abc'], "'trainer.max_epochs' expects an integer"),
])
def test_cli_config_errors(tmp_path, args, match):
    res = _train(args + [f'hydra.run.dir={tmp_path}/r'], tmp_path,
                 check=False)
    assert res.returncode == 2
    assert res.stderr.strip().count('\n') == 0, res.stderr
    assert res.stderr.startswith('rmbrec-train: error: invalid configuration')
    assert match in res.stderr


def test_kill_and_resume_matches_uninterrupted(tmp_path):
    import signal
    import time

    from rmbrec_pyg.train.checkpoint import load_checkpoint
    args = ['trainer.max_epochs=12', 'trainer.batch_size=64',
            'encoder.embedding_dim=16', 'trainer.progress=false',
            'trainer.patience=100']
    full = tmp_path / 'full'
    _train(args + [f'hydra.run.dir={full}'], tmp_path)
    killed = tmp_path / 'killed'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'rmbrec_pyg.cli.train'] + args +
        [f'hydra.run.dir={killed}'], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / 'last.pt'
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and load_checkpoint(str(last))['epoch'] >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = load_checkpoint(str(last))['epoch']
    assert 3 <= epoch < 12, 'the run was not interrupted mid-training'
    _train(args + [f'hydra.run.dir={killed}', 'trainer.resume=true'],
           tmp_path)
    a = json.loads((full / 'metrics.json').read_text())
    b = json.loads((killed / 'metrics.json').read_text())
    assert a == b
    rows = (killed / 'metrics.csv').read_text().splitlines()
    assert len(rows) == 13  # header + 12 epochs, none lost or repeated


def test_recommend_cli(tmp_path):
    run_dir = tmp_path / 'run'
    _train(SMALL + ['trainer.max_epochs=1', f'hydra.run.dir={run_dir}'],
           tmp_path)
    users = tmp_path / 'users.txt'
    users.write_text('1\n5\n')
    out = tmp_path / 'recs.csv'
    subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.recommend',
                    f'checkpoint={run_dir}/best.pt', 'k=5', f'output={out}',
                    f'users={users}'], check=True, capture_output=True)
    rows = [r.split(',') for r in out.read_text().splitlines()]
    assert rows[0] == ['user', 'rank', 'item', 'score']
    assert len(rows) == 11 and {r[0] for r in rows[1:]} == {'1', '5'}
    assert [r[1] for r in rows[1:6]] == ['1', '2', '3', '4', '5']
    scores = [float(r[3]) for r in rows[1:6]]
    assert scores == sorted(scores, reverse=True)
    # items the user bought in training are never recommended
    from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
    data = SyntheticMultiBehaviorDataset(num_users=120, num_items=80)[0]
    buy = data['user', 'buy', 'item'].edge_index
    bought = {int(i) + 1 for u, i in buy.t().tolist() if u == 0}
    assert not bought & {int(r[2]) for r in rows[1:6]}
    # by default no known purchase (validation and test too); exclude=train
    # masks the training ones only, as the evaluation does
    store = data['user', 'buy', 'item']
    heldout = {(u + 1, i + 1) for s in ('val', 'test') for u, i in
               store[f'{s}_edge_label_index'].t().tolist()}
    pairs = {}
    for exclude in ('known', 'train'):
        out_x = tmp_path / f'recs_{exclude}.csv'
        subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.recommend',
                        f'checkpoint={run_dir}/best.pt', 'k=20',
                        f'output={out_x}', f'exclude={exclude}'], check=True,
                       capture_output=True)
        pairs[exclude] = {(int(r.split(',')[0]), int(r.split(',')[2]))
                          for r in out_x.read_text().splitlines()[1:]}
    assert not pairs['known'] & heldout
    assert pairs['train'] & heldout  # 20 of 80 items: some held-out hits
    bad = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.recommend',
                          f'checkpoint={run_dir}/best.pt', 'exclude=all'],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'exclude' must be one of" in bad.stderr
    bad = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.recommend',
                          'checkpoint=/nope.pt'], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and 'does not exist' in bad.stderr


def test_evaluate_rescores_a_run_under_any_protocol(tmp_path):
    run_dir = tmp_path / 'run'
    _train(SMALL + ['trainer.max_epochs=2', 'data.heldout_per_user=3',
                    f'hydra.run.dir={run_dir}'], tmp_path)
    trained = json.loads((run_dir / 'metrics.json').read_text())
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()

    def rescore(*args):
        res = subprocess.run(
            [sys.executable, '-m', 'rmbrec_pyg.cli.evaluate', str(run_dir),
             *args], cwd=elsewhere, capture_output=True, text=True,
            env=dict(os.environ, OMP_NUM_THREADS='1'))
        assert res.returncode == 0, res.stderr
        return res

    rescore('output=same.json')
    same = json.loads((elsewhere / 'same.json').read_text())
    assert same['protocol'] == trained['protocol'] == 'user/full'
    assert same['test'] == trained['test']
    rescore('eval.protocol=pair', 'output=pair.json')
    pair = json.loads((elsewhere / 'pair.json').read_text())
    assert pair['protocol'] == 'pair/full'
    assert pair['test']['HR@10'] != trained['test']['HR@10']  # 3 per user
    res = rescore('eval.negatives=uniform:20', 'eval.ks=[5]')
    assert 'valid [user/sampled uniform:20]: HR@5' in res.stdout
    bad = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.evaluate',
                          str(run_dir), 'eval.protocol=item'],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'eval.protocol' must be one of" in \
        bad.stderr and bad.stderr.count('\n') == 1
