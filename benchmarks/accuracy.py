r"""Accuracy of RMBRec, its ablations and target-only LightGCN on a
leave-one-out dataset, next to the paper's numbers.

    python benchmarks/accuracy.py --data ../shared/data/taobao-noview --seeds 3
    python benchmarks/accuracy.py --data ... --variants rmbrec,lightgcn,no_rrm

Writes ``benchmarks/results/accuracy_<dataset>.json`` (one key per variant:
mean HR@K/NDCG@K over seeds, ``std``, ``seeds``, ``best_epochs``,
``train_seconds``; one JSON per run under ``results/runs/``) and a Markdown table
beside it. Finished runs are kept and skipped when the script is rerun.
"""
import argparse
import os
import sys
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (RESULTS, aggregate, bench_config,  # noqa: E402
                    load_runs, run_grid, save_json, write_text)

# Variant name -> overrides on top of the experiment config.
VARIANTS: Dict[str, List[str]] = bench_config('accuracy')['variants']

# Published numbers for the Taobao release without view (NOTES.md).
PAPER = {
    'taobao_noview': {
        'rmbrec': {'HR@10': 0.1093, 'NDCG@10': 0.0758,
                   'source': 'Table 3, w/o View'},
        'lightgcn': {'HR@10': 0.0253, 'NDCG@10': 0.0137, 'HR@20': 0.0364,
                     'NDCG@20': 0.0178, 'source': 'Table 2 (target only)'},
        # Target-only too, so its Table 2 figures hold without view; the
        # multi-behavior baselines' Table 2 figures used view and have no
        # counterpart here.
        'simgcl': {'HR@10': 0.0400, 'NDCG@10': 0.0236, 'HR@20': 0.0522,
                   'NDCG@20': 0.0265, 'source': 'Table 2 (target only)'},
    },
}


def markdown(name: str, agg: dict, cmd: str) -> str:
    paper = PAPER.get(name, {})
    lines = [f'# Accuracy on `{name}`', '',
             f'Command: `{cmd}`', '',
             'Test metrics at the best validation HR@10 epoch, mean ± std '
             'over seeds; paper figures beside ours where published. '
             'Evaluation protocol (see the README): '
             f"{', '.join(sorted({e['protocol'] for e in agg.values()}))}"
             ' (taobao-noview holds out one purchase per user, so per pair '
             'and per user give the same figures).', '',
             '"re-finding" and "discovery": HR@10 of the test users whose '
             'held-out purchase was / was not seen under an auxiliary '
             'behavior in training (– : runs from before the groups were '
             'recorded).', '',
             '| variant | seeds | HR@10 | paper | re-finding HR@10 | '
             'discovery HR@10 | NDCG@10 | paper | HR@20 | '
             'NDCG@20 | best epochs | s/run |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for v, e in agg.items():
        p = paper.get(v, {})

        def fmt(m: str) -> str:
            return f"{e[m]:.4f} ± {e['std'][m]:.4f}"

        def pp(m: str) -> str:
            return f'{p[m]:.4f}' if m in p else '–'
        groups = e.get('groups', {})

        def gg(g: str) -> str:
            return f'{groups[g]:.4f}' if g in groups else '–'
        lines.append(
            f"| {v} | {e['seeds']} | {fmt('HR@10')} | {pp('HR@10')} | "
            f"{gg('aux')} | {gg('direct')} | {fmt('NDCG@10')} | "
            f"{pp('NDCG@10')} | {fmt('HR@20')} | "
            f"{fmt('NDCG@20')} | {e['best_epochs']} | "
            f"{e['train_seconds']:.0f} |")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         'notes', f'accuracy_{name}.md')
    if os.path.exists(notes):
        lines += ['', open(notes).read()]
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='dataset folder')
    parser.add_argument('--name', default=None,
                        help='dataset name in the output file names '
                        '(default: folder name)')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--first-seed', type=int, default=2026)
    parser.add_argument('--variants', default='rmbrec,lightgcn',
                        help=f'comma-separated, from {list(VARIANTS)}')
    parser.add_argument('--experiment', default='taobao_noview')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--max-epochs', type=int, default=None)
    parser.add_argument('--eval-precision', default='auto',
                        choices=['auto', 'fp32', 'bf16'],
                        help='bf16: certified bf16 candidates rescored in '
                        'fp32 (same ranking up to float ties, faster)')
    parser.add_argument('--work-dir', default='outputs/benchmarks')
    parser.add_argument('--out', default=RESULTS)
    parser.add_argument('--report-only', action='store_true',
                        help='only rebuild the JSON/Markdown from finished runs')
    args = parser.parse_args()

    name = args.name or os.path.basename(os.path.normpath(args.data))
    name = name.replace('-', '_')
    variants = args.variants.split(',')
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f'unknown variants {unknown}; choose from '
                     f'{list(VARIANTS)}')
    base = [f'experiment={args.experiment}',
            f'data.root={os.path.abspath(args.data)}',
            'trainer.progress=false']
    if args.threads:
        base.append(f'trainer.num_threads={args.threads}')
    if args.max_epochs:
        base.append(f'trainer.max_epochs={args.max_epochs}')
    if args.eval_precision != 'auto':
        base.append(f'eval.precision={args.eval_precision}')
    cells = {v: base + VARIANTS[v] for v in variants}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    json_path = os.path.join(args.out, f'accuracy_{name}.json')
    runs_path = os.path.join(args.out, 'runs', f'accuracy_{name}')
    def write(runs: dict) -> None:
        agg = aggregate(runs)
        # The command that reproduces every run in the table, whichever
        # invocations added them (finished runs are skipped; seeds may also
        # be spread over processes with --first-seed).
        present = [v for v in VARIANTS if v in agg]
        n = max([agg[v]['seeds'] for v in present] or [args.seeds])
        cmd = (f'python benchmarks/accuracy.py --data {args.data} --seeds '
               f"{n} --variants {','.join(present)}")
        out = dict(agg)
        out['_paper'] = PAPER.get(name, {})
        out['_command'] = cmd
        save_json(out, json_path)
        write_text(os.path.join(args.out, f'accuracy_{name}.md'),
                   markdown(name, agg, cmd))

    if args.report_only:
        write(load_runs(runs_path))
        return
    run_grid(cells, seeds, runs_path,
             os.path.join(args.work_dir, f'accuracy_{name}'),
             on_update=write)
    write(load_runs(runs_path))
    print(open(os.path.join(args.out, f'accuracy_{name}.md')).read())


if __name__ == '__main__':
    main()
