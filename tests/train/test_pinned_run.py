r"""A behaviour pin for refactors: short fixed-seed runs of several model
variants, whose metrics and per-epoch loss terms were recorded before the
code was moved (``pinned_runs.json``) and must come out the same.

On the CPU kind that recorded them (same torch CPU capability) the
comparison is to the bit; elsewhere (another instruction set picks other
float kernels) to a relative 1e-5.

Record again only for an intended change of behaviour::

    python tests/train/test_pinned_run.py --record
"""
import csv
import json
import math
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PINNED = os.path.join(HERE, 'pinned_runs.json')

SMALL = ['data.num_users=300', 'data.num_items=200', 'trainer.max_epochs=3',
         'trainer.batch_size=100', 'encoder.embedding_dim=16',
         'encoder.num_layers=2', 'trainer.progress=false',
         'trainer.seed=11']
RUNS = {
    'rmbrec': SMALL,
    'paper_text': SMALL + ['ablation=paper_text'],
    'adaptive': SMALL + ['data=synthetic_misaligned', 'fusion=adaptive'],
    'adaptive_learned': SMALL + ['data=synthetic_misaligned',
                                 'fusion=adaptive', 'fusion.gate=learned'],
    'lightgcn': SMALL + ['ablation=lightgcn'],
}
# What is pinned: the metrics of the selected model, the adaptive choices,
# and every loss term of every epoch.
METRIC_KEYS = ('best_epoch', 'valid', 'test', 'valid_groups', 'test_groups',
               'fusion_alpha', 'fusion_weights', 'demote_aux')


def _capability() -> str:
    return str(torch.backends.cpu.get_cpu_capability())


def run_pinned(name: str, out_dir: str) -> dict:
    from rmbrec_pyg.cli.compose import run
    torch.set_num_threads(1)
    metrics = run(RUNS[name], out_dir=out_dir)
    with open(os.path.join(out_dir, 'metrics.csv')) as f:
        rows = list(csv.DictReader(f))
    losses = [{k: float(v) for k, v in r.items() if k.startswith('loss_')}
              for r in rows]
    picked = {k: metrics[k] for k in METRIC_KEYS if k in metrics}
    return json.loads(json.dumps({'metrics': picked, 'losses': losses}))


def _project(got, want):
    # The parts of `got` that the pin names (new keys are allowed).
    if isinstance(want, dict):
        assert isinstance(got, dict), got
        return {k: _project(got.get(k), v) for k, v in want.items()}
    if isinstance(want, list):
        return [_project(g, w) for g, w in zip(got, want)]
    return got


def _close(got, want, path=''):
    if isinstance(want, dict):
        for k in want:
            _close(got[k], want[k], f'{path}.{k}')
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f'{path}[{i}]')
    elif isinstance(want, float):
        assert math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-7), \
            f'{path}: {got} != {want}'
    else:
        assert got == want, f'{path}: {got} != {want}'


@pytest.fixture(scope='module')
def pinned():
    with open(PINNED) as f:
        return json.load(f)


@pytest.mark.parametrize('name', sorted(RUNS))
def test_pinned_run(name, pinned, tmp_path):
    want = pinned['runs'][name]
    got = _project(run_pinned(name, str(tmp_path)), want)
    if pinned['cpu_capability'] == _capability():
        assert got == want  # to the bit
    else:
        _close(got, want)


if __name__ == '__main__':
    if sys.argv[1:] != ['--record']:
        raise SystemExit(__doc__)
    import tempfile
    out = {'cpu_capability': _capability(), 'torch': torch.__version__,
           'runs': {}}
    for name in sorted(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            out['runs'][name] = run_pinned(name, tmp)
            print(name, out['runs'][name]['metrics']['test'])
    with open(PINNED, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
