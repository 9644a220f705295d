import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rmbrec_pyg.cli.run_dir import claim, probe
from rmbrec_pyg.data.errors import ConfigError

FAST = ['data.num_users=120', 'data.num_items=80', 'trainer.batch_size=64',
        'encoder.embedding_dim=8', 'trainer.progress=false',
        'trainer.max_epochs=1']


def _train(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.train'] +
                          FAST + args, cwd=cwd, capture_output=True,
                          text=True, env=env)


def _error(res):
    assert res.returncode == 2, res.stdout + res.stderr
    assert 'Traceback' not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('rmbrec-train: error:')
    return lines[0]


def test_a_run_dir_in_use_is_refused(tmp_path):
    out = tmp_path / 'run'
    with claim(str(out)):
        with pytest.raises(ConfigError, match='being written by another '
                           f'run \\(pid {os.getpid()}\\)'):
            with claim(str(out)):
                pass
        res = _train([f'hydra.run.dir={out}'], tmp_path)
        assert 'being written by another run' in _error(res)
        # refused before Hydra wrote its own files there
        assert not (out / '.hydra').exists()
        assert not (out / 'train.log').exists()
    with claim(str(out)):  # released
        pass


def test_a_killed_run_leaves_no_lock(tmp_path):
    out = tmp_path / 'run'
    code = ('import sys, time; from rmbrec_pyg.cli.run_dir import claim\n'
            f'with claim({str(out)!r}):\n'
            '    print("held", flush=True); time.sleep(60)\n')
    proc = subprocess.Popen([sys.executable, '-c', code],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'held'
    with pytest.raises(ConfigError, match='another run'):
        probe(str(out), False, False)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    probe(str(out), False, False)
    with claim(str(out)):
        pass


def test_a_finished_run_dir_is_reused_only_on_request(tmp_path):
    out = tmp_path / 'run'
    assert _train([f'hydra.run.dir={out}'], tmp_path).returncode == 0
    first = (out / 'metrics.json').read_text()
    stamp = os.stat(out / 'best.pt').st_mtime_ns
    line = _error(_train([f'hydra.run.dir={out}'], tmp_path))
    assert 'holds a finished run' in line and 'trainer.overwrite=true' in line
    assert (out / 'metrics.json').read_text() == first
    assert os.stat(out / 'best.pt').st_mtime_ns == stamp
    line = _error(_train([f'hydra.run.dir={out}', 'trainer.resume=true',
                          'trainer.overwrite=true'], tmp_path))
    assert 'exclude each other' in line
    time.sleep(0.01)
    res = _train([f'hydra.run.dir={out}', 'trainer.overwrite=true',
                  'trainer.seed=7'], tmp_path)
    assert res.returncode == 0, res.stderr
    assert os.stat(out / 'best.pt').st_mtime_ns != stamp
    assert json.loads((out / 'metrics.json').read_text())['best_epoch'] == 1
    assert 'seed: 7' in (out / 'config_resolved.yaml').read_text()


def test_an_interrupted_run_dir_needs_resume(tmp_path):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'last.pt').write_bytes(b'')
    with pytest.raises(ConfigError, match='holds an unfinished run'):
        probe(str(out), False, False)
    probe(str(out), True, False)
