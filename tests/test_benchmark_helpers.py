r"""The benchmark scripts' bookkeeping: resumable grids and runs reused
from another benchmark (checked against their checkpoints)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks'))
from common import load_runs, reuse_runs, run_grid  # noqa: E402

TINY = ['data.num_users=120', 'data.num_items=80', 'trainer.max_epochs=2',
        'trainer.batch_size=64', 'trainer.progress=false',
        'encoder.embedding_dim=8', 'trainer.num_threads=1']


def test_run_grid_then_reuse(tmp_path):
    out, work = str(tmp_path / 'results'), str(tmp_path / 'work')
    src = os.path.join(out, 'runs', 'src')
    runs = run_grid({'model': TINY}, [0], src, os.path.join(work, 'src'))
    assert set(runs) == {'model/seed=0'}
    mtime = os.path.getmtime(os.path.join(src, 'model__seed=0.json'))
    run_grid({'model': TINY}, [0], src, os.path.join(work, 'src'))
    assert os.path.getmtime(os.path.join(src, 'model__seed=0.json')) == mtime

    # Same model, and a seed whose source never ran: reused / reported.
    dst = os.path.join(out, 'runs', 'dst')
    cells = {'same': TINY, 'other': TINY}
    reuse_runs(cells, {'same': ('src', 'model')}, [0, 1], dst, out, work)
    assert cells == {'other': TINY}  # left for training
    got = load_runs(dst)
    assert set(got) == {'same/seed=0'}
    res = got['same/seed=0']
    assert res['test'] == runs['model/seed=0']['test']
    assert res['reused_from'].endswith(os.path.join('src',
                                                    'model__seed=0.json'))
    assert 'test_groups' in res

    # Different data under the same checkpoint: the metrics disagree.
    with pytest.raises(RuntimeError, match='reported'):
        reuse_runs({'moved': TINY[:1] + ['data.seed=5'] + TINY[1:]},
                   {'moved': ('src', 'model')}, [0], dst, out, work)


def test_calibrated_reuse_equals_a_real_adaptive_run(tmp_path):
    # One auxiliary behavior: computed adaptive weights are uniform, so the
    # adaptive run trains exactly as equal fusion and only its calibration
    # differs; reusing the equal run plus calibration must give the same.
    out, work = str(tmp_path / 'results'), str(tmp_path / 'work')
    base = TINY + ['behaviors=[cart,buy]']
    runs = run_grid({'equal': base, 'adaptive': base + ['fusion=adaptive']},
                    [0], os.path.join(out, 'runs', 'b'),
                    os.path.join(work, 'b'))
    dst = os.path.join(out, 'runs', 'dst')
    reuse_runs({'adaptive': base + ['fusion=adaptive']},
               {'adaptive': ('b', 'equal', 'calibrate')}, [0], dst, out,
               work)
    got = load_runs(dst)['adaptive/seed=0']
    real = runs['adaptive/seed=0']
    assert got['calibrated_from'].endswith('equal__seed=0.json')
    assert got['best_epoch'] == real['best_epoch']
    assert got['fusion_alpha'] == real['fusion_alpha']
    assert got['demote_aux'] == real['demote_aux']
    assert got['test'] == pytest.approx(real['test'], abs=1e-6)
    assert got['fusion_weights'] == pytest.approx(real['fusion_weights'])
