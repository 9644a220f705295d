r"""Shared helpers of the benchmark scripts: their override lists (from
``conf/benchmarks/``), run (variant, seed) cells through the Hydra config,
keep every finished run in a JSON file so an interrupted benchmark continues
where it stopped, and aggregate."""
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from rmbrec_pyg.utils.io import write_json, write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')

__all__ = ['ROOT', 'RESULTS', 'bench_config', 'load_runs', 'save_json',
           'write_text', 'run_cell', 'run_grid', 'reuse_runs',
           'recalibrate_runs', 'mean_std',
           'common_metrics', 'protocols', 'aggregate', 'command_line']


def bench_config(name: str) -> Dict[str, Any]:
    r"""The override lists of a benchmark, ``conf/benchmarks/<name>.yaml``
    of the project's config folder, as plain data."""
    from omegaconf import OmegaConf

    from rmbrec_pyg.cli import config_dir
    path = os.path.join(config_dir(), 'benchmarks', f'{name}.yaml')
    return OmegaConf.to_container(OmegaConf.load(path))  # type: ignore


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    r"""The mean and the sample standard deviation (0 for one value): the
    one aggregate of every benchmark table."""
    vals = list(values)
    return (statistics.fmean(vals),
            statistics.stdev(vals) if len(vals) > 1 else 0.0)


def protocols(runs: Sequence[Dict[str, Any]]) -> str:
    r"""The evaluation protocol(s) of :obj:`runs`, e.g. ``'user/full'``.
    Runs made before the protocols were named were scored per held-out pair
    (``'pair/full'``); with one held-out pair per user, as in
    taobao-noview, that is the same figure as ``'user/full'``."""
    return ', '.join(sorted({r.get('protocol', 'pair/full') for r in runs}))


def common_metrics(runs: Sequence[Dict[str, Any]], split: str = 'test'
                   ) -> List[str]:
    r"""The metric names every run reports for :obj:`split`, in report
    order (runs of older versions report fewer metrics)."""
    names = list(runs[0][split]) if runs else []
    return [m for m in names if all(m in r[split] for r in runs)]


def load_runs(folder: str) -> Dict[str, Any]:
    r"""Reads every finished run (one JSON file each) of a folder."""
    runs: Dict[str, Any] = {}
    if not os.path.isdir(folder):
        return runs
    for fname in sorted(os.listdir(folder)):
        if fname.endswith('.json'):
            with open(os.path.join(folder, fname)) as f:
                res = json.load(f)
            runs[f"{res['variant']}/seed={res['seed']}"] = res
    return runs


def save_json(obj: Any, path: str) -> None:
    write_json(path, obj)


def run_cell(overrides: Sequence[str], out_dir: str) -> Dict[str, Any]:
    r"""Trains one configuration and returns its metrics and wall time. A
    run dir left by an interrupted benchmark is trained again from scratch
    (``trainer.overwrite=true``), as a cell's result is only kept whole."""
    from rmbrec_pyg.cli.compose import run
    t0 = time.perf_counter()
    metrics = run(list(overrides) + ['trainer.overwrite=true'],
                  out_dir=out_dir)
    metrics['train_seconds'] = time.perf_counter() - t0
    metrics['overrides'] = list(overrides)
    return metrics


def run_grid(cells: Dict[str, List[str]], seeds: Sequence[int],
             runs_path: str, work_dir: str,
             on_update: Optional[Callable[[Dict[str, Any]], None]] = None
             ) -> Dict[str, Any]:
    r"""Runs every cell (name -> overrides) for every seed, seed-major (all
    cells of seed 1, then seed 2, ...) so partial results stay balanced.
    Each finished run is stored as its own JSON file in the folder
    :obj:`runs_path` (so several processes may fill one folder) and is
    skipped on restart."""
    for seed in seeds:
        for name, overrides in cells.items():
            key = f'{name}/seed={seed}'
            path = os.path.join(runs_path, f'{name}__seed={seed}.json')
            if os.path.exists(path):
                continue
            print(f'== {key}: {" ".join(overrides)}', flush=True)
            res = run_cell(list(overrides) + [f'trainer.seed={seed}'],
                           os.path.join(work_dir, name, f'seed={seed}'))
            res['variant'], res['seed'] = name, seed
            save_json(res, path)
            print(f"   test {res['test']}  best epoch {res['best_epoch']}  "
                  f"{res['train_seconds']:.0f}s", flush=True)
            if on_update is not None:
                on_update(load_runs(runs_path))
    return load_runs(runs_path)


def _check_reproduces(name: str, ckpt: str, got: Dict[str, Any],
                      reported: Dict[str, Any]) -> None:
    # A checkpoint read back must give the metrics its run reported.
    for key in ('valid', 'test'):
        for k, v in reported[key].items():
            if abs(got[key][k] - v) > 1e-6:
                raise RuntimeError(f'{name}: {ckpt} gives {key} {k} '
                                   f'{got[key][k]} but its run reported {v}')


def reuse_runs(cells: Dict[str, List[str]],
               sources: Dict[str, Tuple[str, ...]], seeds: Sequence[int],
               runs_path: str, out: str, work_dir: str) -> None:
    r"""Fills, without training, the cells of :obj:`sources` and removes
    them from :obj:`cells`. A source is ``(benchmark, variant)``: a run that
    trained the same model; or ``(benchmark, variant, 'calibrate')``: a run
    whose training this cell's repeats exactly (adaptive fusion with
    uniform computed weights trains as equal fusion), to which only the
    validation-chosen calibration of adaptive fusion is added. Each source
    checkpoint (``best.pt``) is evaluated with this cell's overrides (so the
    groups follow this cell's data) and must reproduce the source run's
    metrics, else this raises. Seeds whose source has not finished are
    reported and left out."""
    from rmbrec_pyg.cli.compose import evaluate
    for name in [c for c in cells if c in sources]:
        overrides = cells.pop(name)
        bench, source = sources[name][:2]
        calibrate = sources[name][2:] == ('calibrate', )
        for seed in seeds:
            path = os.path.join(runs_path, f'{name}__seed={seed}.json')
            src = os.path.join(out, 'runs', bench, f'{source}__seed={seed}'
                               '.json')
            ckpt = os.path.join(work_dir, bench, source, f'seed={seed}',
                                'best.pt')
            if os.path.exists(path):
                continue
            if not (os.path.exists(src) and os.path.exists(ckpt)):
                print(f'== {name}/seed={seed}: its source {bench}/{source} '
                      'has not run yet; run that first', flush=True)
                continue
            with open(src) as f:
                res = json.load(f)
            m = evaluate(list(overrides) + [f'trainer.seed={seed}'], ckpt,
                         calibrate=calibrate)
            _check_reproduces(name, ckpt, m.pop('uncalibrated', m), res)
            origin = os.path.relpath(src, ROOT)
            res.update(m)
            res.update({'variant': name, 'seed': seed})
            if calibrate:  # the metrics are this cell's, not the source's
                res['overrides'] = list(overrides) + [f'trainer.seed={seed}']
                res['calibrated_from'] = origin
            else:
                res['reused_from'] = origin
            save_json(res, path)
            print(f"== {name}/seed={seed}: from {origin}"
                  f"{' (+ calibration)' if calibrate else ''}", flush=True)


def recalibrate_runs(cells: Dict[str, List[str]], seeds: Sequence[int],
                     runs_path: str, work_dir: str) -> None:
    r"""Makes the choices of the validation calibration after training
    (adaptive fusion's target mix, the target floor's blend) again for the
    finished runs of :obj:`cells`, from their ``best.pt`` and under the
    cells' overrides of today, e.g. after the grid of a choice changed:
    training does not depend on those grids, so this equals training again
    (tested). The checkpoint must first reproduce the metrics the run
    reported before (else this raises). The run keeps its training (best
    epoch, time) and records its previous metrics and choices under
    ``'before_recalibration'``; ``best.pt`` is left as training wrote it.
    Runs or checkpoints that do not exist are reported and skipped."""
    from rmbrec_pyg.cli.compose import evaluate
    for name, overrides in cells.items():
        for seed in seeds:
            path = os.path.join(runs_path, f'{name}__seed={seed}.json')
            ckpt = os.path.join(work_dir, name, f'seed={seed}', 'best.pt')
            if not (os.path.exists(path) and os.path.exists(ckpt)):
                print(f'== {name}/seed={seed}: no finished run or no '
                      f'checkpoint to recalibrate', flush=True)
                continue
            with open(path) as f:
                res = json.load(f)
            before = dict(res.get('before_recalibration', res))
            m = evaluate(list(overrides) + [f'trainer.seed={seed}'], ckpt,
                         calibrate=True)
            _check_reproduces(name, ckpt, m.pop('uncalibrated'), before)
            keep = ('valid', 'test', 'valid_groups', 'test_groups',
                    'overrides', 'blend', 'fusion_alpha', 'demote_aux',
                    'fusion_weights')
            res['before_recalibration'] = {k: before[k] for k in keep
                                           if k in before}
            res.update({k: v for k, v in m.items() if k in keep})
            if 'blend' in before:  # what only training knew stays
                res['blend'] = {**before['blend'], **res['blend']}
            res['overrides'] = list(overrides) + [f'trainer.seed={seed}']
            save_json(res, path)
            print(f"== {name}/seed={seed}: recalibrated, test "
                  f"{before['test']} -> {res['test']}", flush=True)


def aggregate(runs: Dict[str, Any], split: str = 'test'
              ) -> Dict[str, Dict[str, Any]]:
    r"""Mean and std per variant over seeds."""
    by_variant: Dict[str, List[Dict[str, Any]]] = {}
    for res in runs.values():
        by_variant.setdefault(res['variant'], []).append(res)
    out = {}
    for name, rs in by_variant.items():
        rs = sorted(rs, key=lambda r: r['seed'])
        entry: Dict[str, Any] = {}
        std = {}
        metrics = common_metrics(rs, split)
        for m in metrics:
            entry[m], std[m] = mean_std([r[split][m] for r in rs])
        entry['std'] = std
        entry['valid'] = {m: mean_std([r['valid'][m] for r in rs])[0]
                          for m in metrics}
        entry['seeds'] = len(rs)
        entry['seed_list'] = [r['seed'] for r in rs]
        entry['best_epochs'] = [r['best_epoch'] for r in rs]
        entry['train_seconds'] = mean_std([r['train_seconds']
                                           for r in rs])[0]
        entry['protocol'] = protocols(rs)
        # Re-finding (the held-out item was seen under an auxiliary
        # behavior: 'aux') and discovery ('direct'), where every run has
        # them (runs older than the groups do not).
        groups = [r.get(f'{split}_groups') or {} for r in rs]
        entry['groups'] = {
            g: mean_std([x[g]['HR@10'] for x in groups])[0]
            for g in ('aux', 'direct')
            if all(g in x and 'HR@10' in x[g] for x in groups)}
        out[name] = entry
    return out


def command_line() -> str:
    return 'python ' + ' '.join([os.path.relpath(sys.argv[0], ROOT)] +
                                sys.argv[1:])
