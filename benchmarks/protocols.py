r"""The same trained models under every evaluation protocol, on synthetic
data where every user holds out several purchases (per user vs per pair,
full ranking vs sampled negatives).

    python benchmarks/protocols.py --seeds 2

Trains each model of ``conf/benchmarks/protocols.yaml`` once per seed
(model selection under the default protocol, user/full), rescores its
``best.pt`` under every protocol there with ``rmbrec-evaluate``'s
:func:`~rmbrec_pyg.cli.evaluate.rescore`, and writes
``benchmarks/results/protocols.{json,md}``. Finished runs are skipped.
"""
import argparse
import os
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (RESULTS, bench_config, load_runs, mean_std,  # noqa
                    run_grid, save_json, write_text)

from rmbrec_pyg.cli.evaluate import rescore  # noqa: E402

CONFIG = bench_config('protocols')
SHOWN = ('HR@10', 'NDCG@10', 'Recall@10')


def rescore_runs(runs_path: str, work_dir: str, seeds: List[int]) -> None:
    r"""Adds ``'protocols'`` (label -> test metrics) to every run JSON."""
    for key, res in load_runs(runs_path).items():
        if 'protocols' in res:
            continue
        name, seed = res['variant'], res['seed']
        run_dir = os.path.join(work_dir, name, f'seed={seed}')
        if name == 'most_popular':  # not trained: score it under each
            from rmbrec_pyg.cli.compose import run
            res['protocols'] = {
                label: run(list(res['overrides']) + list(over) +
                           ['trainer.overwrite=true'],
                           out_dir=os.path.join(run_dir, label.replace(
                               '/', '_').replace(' ', '_')))['test']
                for label, over in CONFIG['protocols'].items()}
        else:
            res['protocols'] = {
                label: rescore(run_dir, over)['test']
                for label, over in CONFIG['protocols'].items()}
        save_json(res, os.path.join(runs_path, f'{name}__seed={seed}.json'))


def summarize(runs: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    by_model: Dict[str, List[Dict[str, Any]]] = {}
    for res in runs.values():
        by_model.setdefault(res['variant'], []).append(res)
    for model, rs in by_model.items():
        out[model] = {}
        for label in CONFIG['protocols']:
            entry: Dict[str, Any] = {'seeds': len(rs)}
            for m in rs[0]['protocols'][label]:
                entry[m], entry[f'{m}_std'] = mean_std(
                    [r['protocols'][label][m] for r in rs])
            out[model][label] = entry
    return out


def markdown(summary: Dict[str, Any], cmd: str) -> str:
    labels = list(CONFIG['protocols'])
    lines = ['# One model, five protocols', '', f'Command: `{cmd}`', '',
             'Synthetic data (`' + ' '.join(CONFIG['data']) + '`): every '
             'user holds out 3 purchases in validation and 3 in test. Each '
             'model is trained and selected once per seed under the default '
             'protocol (user/full) and its test split rescored under each '
             'protocol; mean over seeds. Per user: a user is one ranked list '
             'and all its held-out items count (HR@K: any of them in the top '
             'K). Per pair: every held-out pair is ranked alone, the user\'s '
             'other held-out items among the competitors. Sampled: each held-'
             'out item against 99 negatives drawn for it (not comparable '
             'with full ranking).', '']
    for m in SHOWN:
        lines += [f'## test {m}', '',
                  '| model | ' + ' | '.join(labels) + ' |',
                  '|---|' + '---|' * len(labels)]
        for model, entries in summary.items():
            lines.append(f'| {model} | ' + ' | '.join(
                f"{entries[label][m]:.4f}" for label in labels) + ' |')
        lines.append('')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=2)
    parser.add_argument('--first-seed', type=int, default=2026)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--work-dir', default='outputs/benchmarks')
    parser.add_argument('--out', default=RESULTS)
    args = parser.parse_args()
    base = list(CONFIG['data']) + ['trainer.progress=false']
    if args.threads:
        base.append(f'trainer.num_threads={args.threads}')
    cells = {m: base + list(o) for m, o in CONFIG['models'].items()}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs_path = os.path.join(args.out, 'runs', 'protocols')
    work = os.path.join(args.work_dir, 'protocols')
    run_grid(cells, seeds, runs_path, work)
    rescore_runs(runs_path, work, seeds)
    summary = summarize(load_runs(runs_path))
    cmd = f'python benchmarks/protocols.py --seeds {args.seeds}'
    save_json({'test': summary, 'command': cmd,
               'protocols': CONFIG['protocols']},
              os.path.join(args.out, 'protocols.json'))
    write_text(os.path.join(args.out, 'protocols.md'),
               markdown(summary, cmd))
    print(open(os.path.join(args.out, 'protocols.md')).read())


if __name__ == '__main__':
    main()
