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
