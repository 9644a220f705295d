r"""The benchmark scripts' bookkeeping: resumable grids and runs reused
from another benchmark (checked against their checkpoints)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks'))
from common import (load_runs, recalibrate_runs, reuse_runs,  # noqa: E402
                    run_grid)

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


def test_recalibrated_runs_equal_runs_with_the_new_grid(tmp_path):
    # The grids of the choices after training (the floor's blend, adaptive
    # fusion's mix) do not change training: a run recalibrated from its
    # best.pt under a new grid equals a run trained with it. The old grid
    # forces the tower alone (beta 1), so a best.pt read back holds a blend
    # that fusion's search must not see (it did not during training).
    out, work = str(tmp_path / 'results'), str(tmp_path / 'work')
    base = TINY + ['trainer.max_epochs=4', 'floor=tower', 'fusion=adaptive']
    new = base + ['floor.betas=[0.0,0.1,0.5,1.0]']
    runs_path = os.path.join(out, 'runs', 'old')
    old = run_grid({'floor': base + ['floor.betas=[1.0]']}, [0], runs_path,
                   os.path.join(work, 'old'))['floor/seed=0']
    real = run_grid({'floor': new}, [0], os.path.join(out, 'runs', 'new'),
                    os.path.join(work, 'new'))['floor/seed=0']
    assert old['blend']['beta'] == [1.0, 1.0]
    assert real['blend']['beta'] != [1.0, 1.0]
    for _ in range(2):  # a second recalibration changes nothing
        recalibrate_runs({'floor': new}, [0], runs_path,
                         os.path.join(work, 'old'))
        got = load_runs(runs_path)['floor/seed=0']
        assert got['blend'] == real['blend']
        assert got['fusion_alpha'] == real['fusion_alpha']
        assert got['test'] == pytest.approx(real['test'], abs=1e-6)
        assert got['test_groups']['aux'] == pytest.approx(
            real['test_groups']['aux'], abs=1e-6)
        assert got['best_epoch'] == old['best_epoch']
        assert got['before_recalibration']['test'] == old['test']
        assert got['overrides'] == new + ['trainer.seed=0']

    # A checkpoint that does not reproduce its run's metrics is refused.
    with pytest.raises(RuntimeError, match='reported'):
        recalibrate_runs({'floor': new + ['data.seed=5']}, [0], runs_path,
                         os.path.join(work, 'old'))


def test_robustness_summary_and_report(tmp_path):
    # The figure and table of the robustness study come from this summary:
    # means over seeds, drops against each model's own clean graph, floors
    # for target-only models, and where reused cells came from.
    import robustness

    def run(variant, hr, reused=None):
        res = {'variant': variant, 'test': {'HR@10': hr}}
        if reused:
            res['reused_from'] = reused
        return res

    runs = {'a': run('rmbrec|clean|0', 0.09, 'x/acc/rmbrec__seed=1.json'),
            'b': run('rmbrec|clean|0', 0.11),
            'c': run('rmbrec|remove|0.1', 0.099),
            'd': run('rmbrec|add|0.5', 0.055),
            'e': run('rmbrec|add|0.5', 0.065),
            'f': run('lightgcn|clean|0', 0.02)}
    s = robustness.summarize(runs)
    assert s['rmbrec']['clean']['0']['HR@10'] == pytest.approx(0.10)
    assert s['rmbrec']['clean']['0']['seeds'] == 2
    assert s['rmbrec']['clean']['0']['reused_from'] == ['x/acc']
    assert s['rmbrec']['add']['0.5']['relative_drop'] == pytest.approx(0.4)
    assert s['rmbrec']['remove']['0.1']['std'] == 0.0
    assert s['lightgcn']['clean']['0']['relative_drop'] == 0.0

    md = robustness.markdown({'HR@10': s}, 'toy',
                             ['python benchmarks/robustness.py'], 'user/full')
    assert 'Evaluation protocol: user/full' in md
    rows = [line for line in md.splitlines() if line.startswith('| rmbrec')]
    assert rows == ['| rmbrec | clean | 0.1000 | 0.0141 | 0.0 % | 2 |',
                    '| rmbrec | remove 0.1 | 0.0990 | 0.0000 | 1.0 % | 1 |',
                    '| rmbrec | add 0.5 | 0.0600 | 0.0071 | 40.0 % | 2 |']
    assert 'rmbrec|clean|0: x/acc' in md
    png = tmp_path / 'fig.png'
    robustness.plot(s, str(png), 'toy')
    assert png.stat().st_size > 0
