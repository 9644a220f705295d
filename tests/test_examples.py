import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable] + args, cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True).stdout


def test_custom_training_loop(tmp_path):
    out = _run([os.path.join(ROOT, 'examples', 'custom_training_loop.py'),
                '--epochs', '5', '--users', '300', '--items', '200'],
               tmp_path)
    line = [ln for ln in out.splitlines() if ln.startswith('epoch 5')][0]
    assert float(line.split('HR@10 ')[1].split()[0]) > 0.05


def test_custom_regularizer(tmp_path):
    out = _run([os.path.join(ROOT, 'examples', 'custom_regularizer.py'), '2'],
               tmp_path)
    assert "'loss_user_norm'" in out


def test_lambda_sweep_and_report(tmp_path):
    out = _run([os.path.join(ROOT, 'examples', 'lambda_sweep.py'), '1'],
               tmp_path)
    sweep = tmp_path / 'outputs' / 'examples' / 'lambda_sweep'
    assert '6 runs -> report.md, report.csv, lambda_heatmap.png' in out
    assert (sweep / 'lambda_heatmap.png').stat().st_size > 1000
    assert len((sweep / 'report.csv').read_text().splitlines()) == 7


def test_own_loop_on_a_shops_hetero_data(tmp_path):
    # ('customer', 'purchase', 'product') with click and cart, undirected
    out = _run([os.path.join(ROOT, 'examples', 'own_loop.py'), '--epochs',
                '10', '--users', '300', '--items', '200', '--undirected'],
               tmp_path)
    line = [ln for ln in out.splitlines() if ln.startswith('epoch 010')][0]
    assert float(line.split('recall@20 ')[1]) > 0.1
