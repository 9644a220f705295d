r"""The robustness study of the paper (§4.4, Fig. 3): randomly add or remove
a share of the auxiliary edges and compare RMBRec with the plain
multi-behavior model (no RRM/ORM) and target-only LightGCN (the floor).

    python benchmarks/robustness.py --data ../shared/data/taobao-noview \
        --ratios 0.1,0.3,0.5 --seeds 2
    python benchmarks/robustness.py --synthetic --ratios 0.1,0.3,0.5 --seeds 2

Writes ``benchmarks/results/robustness_<dataset>.{json,md}``, a PNG plot like
Fig. 3 (absolute test HR@10 on the left, relative drop against the clean
graph on the right; removal at negative ratios, addition at positive ones)
and the same for NDCG@10 like Fig. 5 (``..._ndcg.png``). Finished runs are
kept and skipped on rerun.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (RESULTS, bench_config, command_line,  # noqa: E402
                    load_runs, mean_std, protocols, reuse_runs, run_grid,
                    save_json, write_text)

CONFIG = bench_config('robustness')
MODELS: Dict[str, List[str]] = CONFIG['models']
# Models that use only the target graph, which is never perturbed: one
# clean cell each, drawn as a floor.
TARGET_ONLY = tuple(CONFIG['target_only'])
# HR@10 as in the paper's Fig. 3, NDCG@10 as in its Fig. 5.
METRICS = ('HR@10', 'NDCG@10')


# Cells of the taobao-noview grid that other benchmarks already trained with
# the same model and data (checkpoints re-evaluated, see reuse_runs):
# accuracy.py's RMBRec, LightGCN (the latter evaluated every 5 epochs) and
# PKEF,
# and shift.py's RMBRec with 50 % random cart edges (the same transform and
# perturbation seed).
REUSE = {
    'taobao_noview': {
        'rmbrec|clean|0': ('accuracy_taobao_noview', 'rmbrec'),
        'lightgcn|clean|0': ('accuracy_taobao_noview', 'lightgcn'),
        'pkef|clean|0': ('accuracy_taobao_noview', 'pkef'),
        'rmbrec|add|0.5': ('shift', 'taobao_noisy|rmbrec_equal'),
    },
}


def perturb(mode: str, ratio: float, seed: int) -> List[str]:
    if ratio == 0:
        return []
    p = '+data.pre_transform'
    return [f'{p}._target_=rmbrec_pyg.graph.PerturbAuxiliaryEdges',
            f'{p}.ratio={ratio}', f'{p}.mode={mode}', f'{p}.seed={seed}']


def summarize(runs: Dict[str, Any], metric: str = 'HR@10') -> Dict[str, Any]:
    cells: Dict[str, List[float]] = {}
    sources: Dict[str, set] = {}
    for key, res in runs.items():
        cells.setdefault(res['variant'], []).append(res['test'][metric])
        if 'reused_from' in res:
            sources.setdefault(res['variant'], set()).add(
                os.path.dirname(res['reused_from']))
    out: Dict[str, Any] = {}
    for name, vals in cells.items():
        model, mode, ratio = name.split('|')
        entry = out.setdefault(model, {}).setdefault(mode, {})
        mean, std = mean_std(vals)
        entry[ratio] = {metric: mean, 'std': std, 'seeds': len(vals)}
        if name in sources:
            entry[ratio]['reused_from'] = sorted(sources[name])
    for model, modes in out.items():
        clean = modes.get('clean', {}).get('0', {}).get(metric)
        for mode, ratios in modes.items():
            for r, e in ratios.items():
                if clean:
                    e['relative_drop'] = (clean - e[metric]) / clean
    return out


def plot(summary: Dict[str, Any], path: str, title: str,
         metric: str = 'HR@10') -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model, modes in summary.items():
        if set(modes) == {'clean'}:  # target-only: a horizontal floor
            y = modes['clean']['0'][metric]
            axes[0].axhline(y, ls='--' if model == 'lightgcn' else ':',
                            color='grey', label=f'{model} (target only)')
            continue
        pts = []
        clean = modes.get('clean', {}).get('0')
        if clean:
            pts.append((0.0, clean[metric], 0.0))
        for mode, sign in (('remove', -1), ('add', 1)):
            for r, e in modes.get(mode, {}).items():
                pts.append((sign * float(r), e[metric],
                            e.get('relative_drop', 0.0)))
        pts.sort()
        xs = [100 * p[0] for p in pts]
        axes[0].plot(xs, [p[1] for p in pts], marker='o', label=model)
        axes[1].plot(xs, [100 * p[2] for p in pts], marker='o', label=model)
    axes[0].set_ylabel(f'test {metric}')
    axes[1].set_ylabel('relative drop vs. clean (%)')
    for ax in axes:
        ax.set_xlabel('auxiliary edges removed (-) / added (+), %')
        ax.axvline(0, color='grey', lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(summaries: Dict[str, Dict[str, Any]], name: str,
             cmds: List[str], protocol: str) -> str:
    r"""The report: one table per metric (:obj:`summaries` maps a metric
    to its :func:`summarize` output), then the reused cells."""
    lines = [f'# Robustness on `{name}`', '',
             'Commands (each skips the runs already in `results/runs/`):', '']
    lines += [f'    {c}' for c in cmds]
    lines += ['', 'Test metric (mean over seeds) and relative drop against '
              'the clean graph; "remove r" / "add r": a share r of every '
              'auxiliary behavior\'s edges removed / random edges added. '
              f'Evaluation protocol: {protocol} (one held-out pair per '
              'user: per pair and per user give the same figures).']
    for metric, summary in summaries.items():
        lines += ['', f'| model | setting | {metric} | std | drop | seeds |',
                  '|---|---|---|---|---|---|']
        for model, modes in summary.items():
            for mode in ('clean', 'remove', 'add'):
                for r, e in sorted(modes.get(mode, {}).items(),
                                   key=lambda kv: float(kv[0])):
                    label = 'clean' if mode == 'clean' else f'{mode} {r}'
                    lines.append(
                        f"| {model} | {label} | {e[metric]:.4f} | "
                        f"{e['std']:.4f} | "
                        f"{100 * e.get('relative_drop', 0.0):.1f} % | "
                        f"{e['seeds']} |")
    summary = next(iter(summaries.values()))
    reused = sorted({f'{m}|{mode}|{r}: {src}' for m, modes in summary.items()
                     for mode, rs in modes.items() for r, e in rs.items()
                     for src in e.get('reused_from', [])})
    if reused:
        lines += ['', 'Cells trained by another benchmark (same model and '
                  'data; their checkpoints re-evaluated here reproduce the '
                  'metrics): ' + '; '.join(reused) + '.']
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--data', help='dataset folder')
    src.add_argument('--synthetic', action='store_true',
                     help='synthetic data with a pure-noise behavior')
    parser.add_argument('--ratios', default='0.1,0.3,0.5')
    parser.add_argument('--modes', default='remove,add')
    parser.add_argument('--seeds', type=int, default=2)
    parser.add_argument('--first-seed', type=int, default=2026)
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--max-epochs', type=int, default=None)
    parser.add_argument('--work-dir', default='outputs/benchmarks')
    parser.add_argument('--out', default=RESULTS)
    parser.add_argument('--report-only', action='store_true',
                        help='only rebuild the reports from finished runs')
    args = parser.parse_args()

    if args.synthetic:
        name = 'synthetic_noise'
        base = list(CONFIG['synthetic'])
    else:
        name = os.path.basename(os.path.normpath(args.data)).replace('-', '_')
        base = [o.format(root=os.path.abspath(args.data))
                for o in CONFIG['folder']]
    base.append('trainer.progress=false')
    if args.threads:
        base.append(f'trainer.num_threads={args.threads}')
    if args.max_epochs:
        base.append(f'trainer.max_epochs={args.max_epochs}')
    ratios = [float(r) for r in args.ratios.split(',')]
    cells: Dict[str, List[str]] = {}
    for model in args.models.split(','):
        extra = MODELS[model]
        cells[f'{model}|clean|0'] = base + extra
        if model in TARGET_ONLY:  # the target graph is never perturbed
            continue
        for mode in args.modes.split(','):
            for r in ratios:
                # The perturbation seed is fixed per cell; model seeds vary.
                cells[f'{model}|{mode}|{r:g}'] = base + extra + perturb(
                    mode, r, 0)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs_path = os.path.join(args.out, 'runs', f'robustness_{name}')
    json_path = os.path.join(args.out, f'robustness_{name}.json')

    def commands() -> List[str]:
        # Runs accumulate over invocations (some at the same time): keep
        # every command that added some, as written by now plus this one.
        cmds: List[str] = []
        if os.path.exists(json_path):
            with open(json_path) as f:
                old = json.load(f)
            cmds = old.get('commands') or [old['command']]
        cmd = command_line()
        return cmds if cmd in cmds or args.report_only else cmds + [cmd]

    def write(runs: Dict[str, Any]) -> None:
        summaries = {m: summarize(runs, m) for m in METRICS}
        cmds = commands()
        protocol = protocols(list(runs.values()))
        save_json({'test': summaries['HR@10'],
                   'test_NDCG@10': summaries['NDCG@10'], 'commands': cmds,
                   'protocol': protocol,
                   'note': 'LightGCN and most-popular use only the target '
                   'graph, so their value is the same at every ratio (the '
                   'floors).'},
                  json_path)
        for metric, summary in summaries.items():
            suffix = '' if metric == 'HR@10' else '_ndcg'
            plot(summary, os.path.join(args.out,
                                       f'robustness_{name}{suffix}.png'),
                 f'Robustness on {name} ({metric})', metric)
        write_text(os.path.join(args.out, f'robustness_{name}.md'),
                   markdown(summaries, name, cmds, protocol))

    if args.report_only:
        write(load_runs(runs_path))
        return
    reuse_runs(cells, REUSE.get(name, {}), seeds, runs_path, args.out,
               args.work_dir)
    run_grid(cells, seeds, runs_path,
             os.path.join(args.work_dir, f'robustness_{name}'),
             on_update=write)
    write(load_runs(runs_path))
    print(open(json_path).read())


if __name__ == '__main__':
    main()
