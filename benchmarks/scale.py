r"""How a training epoch grows with the data: full propagation (every step
propagates every behavior's whole graph) against sampled propagation
(``trainer.propagation=sampled``: only the batch's L-hop neighbourhoods),
on random graphs of the paper's Taobao size (``data=random_taobao``) times
1, 4 and 16, with the paper's settings otherwise; the accuracy of both
modes on taobao-noview; and whether sharded tables on 2 ranks end where 1
rank ends.

    python benchmarks/scale.py --json benchmarks/results/scale.json
    python benchmarks/scale.py --sizes 1 4 --fanout 5 --steps 3
    python benchmarks/scale.py --sizes --json benchmarks/results/scale.json \
        --accuracy benchmarks/results/accuracy_taobao_noview.json \
        --sharded-check          # keeps the timed cells, adds the rest

Each (mode, size) cell runs in its own process (for its peak RSS): one
warm-up step, then ``--steps`` timed steps. ``epoch_s`` is the median step
time times the steps of an epoch (users / batch size), *not* a whole epoch
run; the JSON says so. A cell whose warm-up step takes longer than
``--max-step-s`` reports ``"not finished"`` and no number. With no
``--sizes``, the cells of an existing ``--json`` are kept.

``--accuracy`` reads the runs of ``benchmarks/accuracy.py`` (3 seeds each,
early stopping on validation): full propagation is the ``rmbrec`` variant,
sampled propagation the ``rmbrec_sampled*`` variant (one per fanout and
table optimizer) with the best mean validation HR@10. ``--sharded-check``
trains the small sharded-table run of the tests under ``torchrun`` with 1
and 2 ranks (needs ``make install-dist``).

Writes ``scale.json``, ``scale.md`` and ``scale.png`` (epoch time against
edges) beside ``--json``.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


MODES = ('full', 'full_steps', 'sampled', 'sampled_rowadam',
         'sampled_rowadam_pyg', 'sharded', 'sharded2')
MODE_NOTES = {
    'full': 'full propagation (the default): every step propagates every '
            'whole graph',
    'full_steps': 'full propagation with trainer.steps_per_epoch=48 (the '
                  "x1 epoch's steps): the batch grows with the users "
                  '(16,250 at x16)',
    'sampled': 'sampled propagation, the tables in the run\'s dense Adam',
    'sampled_rowadam': 'sampled propagation, trainer.table_optimizer=adam: '
                       'the tables\' own row-wise Adam over sparse '
                       'gradients (only the looked-up rows)',
    'sampled_rowadam_pyg': 'sampled_rowadam with the neighbourhoods drawn '
                           "by PyG's NeighborSampler "
                           '(trainer.neighbor_sampler=pyg; needs pyg-lib or '
                           'torch_sparse)',
    'sharded': 'sampled propagation, trainer.tables=sharded on one rank '
               '(torchrec, fused Adagrad over the looked-up rows)',
    'sharded2': 'sharded, on 2 ranks under torchrun (gloo, one thread '
                'each, on the same cores as one rank with two threads): each '
                'rank propagates half of every batch and holds half of the '
                'tables'}


def _overrides(mode: str, fanout: int) -> List[str]:
    # 'sharded': sampled propagation with the tables in torchrec (one
    # rank), whose fused optimizer updates only the looked-up rows;
    # 'sampled_rowadam': sampled propagation with replicated tables and
    # their own row-wise Adam over sparse gradients; 'full_steps': full
    # propagation with a fixed number of steps per epoch (48: the steps of
    # batch 1024 at x1), the batch growing with the users.
    if mode not in MODES:
        raise SystemExit(f'unknown mode {mode!r}; choose from {MODES}')
    full = mode.startswith('full')
    out = [f"trainer.propagation={'full' if full else 'sampled'}",
           'trainer.progress=false']
    if mode == 'full_steps':
        out.append('trainer.steps_per_epoch=48')
    if not full:
        out.append(f'trainer.fanout={fanout}')
    if mode.startswith('sharded'):
        out.append('trainer.tables=sharded')
    if mode.startswith('sampled_rowadam'):
        out.append('trainer.table_optimizer=adam')
    if not full:  # the pure-torch sampler unless the mode names PyG's
        out.append('trainer.neighbor_sampler=' +
                   ('pyg' if mode.endswith('_pyg') else 'torch'))
    return out


def _one_rank_group() -> None:
    import torch.distributed as dist
    from rmbrec_pyg.testing import free_port
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    dist.init_process_group('gloo', rank=0, world_size=1)


def run_cell(mode: str, scale: float, fanout: int, steps: int,
             max_step_s: float) -> Dict[str, Any]:
    r"""Times the steps of one cell in this process."""
    import torch
    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    from rmbrec_pyg.graph.neighborhood import pyg_sampler_backend
    warnings.filterwarnings('ignore')
    if mode == 'sharded':
        _one_rank_group()
    elif mode == 'sharded2':  # started by torchrun (see _child)
        import torch.distributed as dist
        dist.init_process_group('gloo')
    cfg = compose_config(['data=random_taobao', f'data.scale={scale}'] +
                         _overrides(mode, fanout))
    t0 = time.perf_counter()
    trainer = build_trainer(cfg)
    setup_s = time.perf_counter() - t0
    data = trainer.data
    batches = trainer.batches()
    out: Dict[str, Any] = {
        'mode': mode, 'scale': scale, 'setup_s': setup_s,
        'users': int(data['user'].num_nodes),
        'items': int(data['item'].num_nodes),
        'edges': sum(int(data['user', b, 'item'].edge_index.size(1))
                     for b in data.behaviors),
        'batches_per_epoch': len(batches), 'threads': torch.get_num_threads(),
        'pyg_sampler_backend': pyg_sampler_backend()}
    t = time.perf_counter()
    trainer.runner(batches[0])  # warm-up
    warm = time.perf_counter() - t
    if warm > max_step_s:
        out.update(status='not finished', warmup_step_s=warm,
                   reason=f'one step took {warm:.0f} s (> --max-step-s '
                   f'{max_step_s:g}); an epoch is {len(batches)} steps')
    else:
        times = []
        for users in batches[1:steps + 1]:
            t = time.perf_counter()
            trainer.runner(users)
            times.append(time.perf_counter() - t)
        step = statistics.median(times)
        out.update(status='ok', step_s=step, step_s_all=times,
                   epoch_s=step * len(batches))
    out['peak_rss_mb'] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024
    if mode == 'sharded2':  # the most any rank held
        from rmbrec_pyg.train.distributed import from_every_rank
        every = from_every_rank(out['peak_rss_mb'])
        out.update(peak_rss_mb=max(every), peak_rss_mb_per_rank=every,
                   ranks=len(every))
    return out


def accuracy(path: str) -> Dict[str, Any]:
    r"""Full and sampled propagation's test HR@10 from an accuracy JSON;
    the sampled variant (fanout, table optimizer) is the one with the best
    mean validation HR@10."""
    with open(path) as f:
        acc = json.load(f)

    def entry(key: str) -> Dict[str, Any]:
        e = acc[key]
        return {'HR@10': e['HR@10'], 'std': e['std']['HR@10'],
                'valid_HR@10': e['valid']['HR@10'], 'seeds': e['seeds'],
                'best_epochs': e['best_epochs'], 'variant': key,
                'train_seconds': e['train_seconds']}
    candidates = {k: entry(k) for k in acc if k.startswith('rmbrec_sampled')}
    if 'rmbrec' not in acc or not candidates:
        raise SystemExit(f'{path}: needs the rmbrec and rmbrec_sampled* '
                         'variants of benchmarks/accuracy.py')
    chosen = max(candidates.values(), key=lambda e: e['valid_HR@10'])
    full = entry('rmbrec')
    return {'full': full, 'sampled': chosen,
            'sampled_over_full': chosen['HR@10'] / full['HR@10'],
            'candidates': candidates, 'source': path,
            'choice': 'sampled variant: best mean validation HR@10'}


def sharded_check() -> Dict[str, Any]:
    r"""Trains the tests' small sharded-table run on 1 and 2 ranks."""
    import tempfile
    from rmbrec_pyg.testing import SHARDED_ARGS, sharded_ranks_difference
    with tempfile.TemporaryDirectory() as root:
        diff = sharded_ranks_difference(root)
    return {'max_abs_table_difference': diff, 'tolerance': 2e-3,
            'matches': diff < 2e-3, 'args': SHARDED_ARGS}


def _policy(option: str) -> str:
    # the OMP_WAIT_POLICY the cells run under
    if option == 'inherit':
        return os.environ.get('OMP_WAIT_POLICY', 'unset (the default)')
    return option.upper()


def _child(args: argparse.Namespace, extra: List[str]) -> Dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), '--fanout',
           str(args.fanout), '--steps', str(args.steps), '--max-step-s',
           str(args.max_step_s)] + extra
    env = dict(os.environ)
    if extra[:2] == ['--cell', 'sharded2']:  # 2 ranks, one core each
        from rmbrec_pyg.testing import free_port
        cmd[1:1] = ['-m', 'torch.distributed.run', '--nproc_per_node=2',
                    '--master_addr=127.0.0.1', f'--master_port={free_port()}']
        env['OMP_NUM_THREADS'] = '1'
    if args.omp_wait_policy != 'inherit':  # PASSIVE: for a shared machine
        env['OMP_WAIT_POLICY'] = args.omp_wait_policy.upper()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return {'status': 'failed', 'reason':
                (res.stderr.strip().splitlines() or ['?'])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def write_outputs(res: Dict[str, Any], path: str) -> None:
    base = os.path.splitext(path)[0]
    with open(path, 'w') as f:
        json.dump(res, f, indent=2)
    sizes = ', '.join(next(iter(res['cells'].values()), {}))
    lines = ['# Epoch time against data size', '',
             f"`{res['command']}`", '',
             'Random graphs of the paper\'s Taobao size (48,749 users, '
             '39,493 items, 2.0M events) times ' + sizes + '; paper '
             'settings (64-d, 3 layers, batch 1024, RRM + ORM). '
             f"{res['epoch_s_note']}", '',
             '| mode | size | edges | epoch s | step s | peak RSS MB |',
             '|---|---|---|---|---|---|']
    for mode, cells in res['cells'].items():
        for key, c in cells.items():
            epoch = f"{c['epoch_s']:.1f}" if c.get('status') == 'ok' \
                else c.get('status', '?')
            step = f"{c['step_s']:.2f}" if c.get('status') == 'ok' else \
                c.get('reason', '')
            lines.append(f"| {mode} | {key} | {c.get('edges', '?'):,} | "
                         f"{epoch} | {step} | "
                         f"{c.get('peak_rss_mb', 0):.0f} |")
    lines += [''] + [f'- `{m}`: {MODE_NOTES[m]}.' for m in res['cells']
                     if m in MODE_NOTES]
    if res.get('note'):
        lines += ['', res['note']]
    for mode, ratio in res.get('x16_over_x1', {}).items():
        lines += ['', f'{mode}: the x16 epoch costs {ratio:.1f}x the x1 '
                  'epoch' + ('.' if mode.startswith('full') else
                             ' (target for sampled propagation: at most '
                             '20x).')]
    acc = res.get('taobao_noview')
    if acc:
        lines += ['', '## taobao-noview: test HR@10', '',
                  f"From `{acc['source']}` ({acc['choice']}): "
                  f"`{res.get('accuracy_command', '')}`.", '',
                  '| mode | variant | test HR@10 | valid HR@10 | seeds | '
                  'best epochs | s/run |', '|---|---|---|---|---|---|---|']
        rows = [('full', acc['full'])] + [
            ('sampled' + (' (chosen)' if c['variant'] ==
                          acc['sampled']['variant'] else ''), c)
            for c in acc['candidates'].values()]
        for mode, a in rows:
            lines.append(f"| {mode} | {a['variant']} | {a['HR@10']:.4f} "
                         f"± {a['std']:.4f} | {a['valid_HR@10']:.4f} | "
                         f"{a['seeds']} | {a['best_epochs']} | "
                         f"{a['train_seconds']:.0f} |")
        lines += ['', '`rmbrec_sampled` has fanout 3, `rmbrec_sampledN` fanout N; '
                  '`_rowadam`: the tables stepped by their row-wise Adam '
                  '(`trainer.table_optimizer=adam`); '
                  'the seconds per run come from different days and '
                  'machine loads (compare speed in the table above).']
        lines += ['', f"Sampled / full test HR@10: "
                  f"{acc['sampled_over_full']:.3f} (target: at least 0.97)."]
    check = res.get('sharded_check')
    if check:
        lines += ['', '## Sharded tables: 2 ranks against 1', '',
                  f"`sharded_matches_single`: "
                  f"{str(res['sharded_matches_single']).lower()} (largest "
                  f"table difference {check['max_abs_table_difference']:.2e}"
                  f", tolerance {check['tolerance']:g}; "
                  f"`{' '.join(check['args'])}`)."]
    with open(base + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, cells in res['cells'].items():
        pts = [(c['edges'], c['epoch_s']) for c in cells.values()
               if c.get('status') == 'ok']
        if pts:
            ax.plot(*zip(*pts), marker='o', label=mode)
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('training edges (all behaviors)')
    ax.set_ylabel('seconds per epoch (from timed steps)')
    ax.set_title('Epoch time against data size (CPU)')
    ax.legend()
    ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(base + '.png', dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=float, nargs='*', default=[1, 4, 16],
                        help='none: keep the cells of an existing --json')
    parser.add_argument('--modes', nargs='+', default=['full', 'sampled'])
    parser.add_argument('--fanout', type=int, default=3)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--max-step-s', type=float, default=120.0)
    parser.add_argument('--omp-wait-policy', default='passive',
                        choices=['passive', 'active', 'inherit'],
                        help="OpenMP threads' wait between ops in the cells "
                        '(passive: they sleep, for a machine shared with '
                        "other jobs; inherit: this shell's setting, torch's "
                        'default if unset)')
    parser.add_argument('--accuracy', default=None, metavar='JSON',
                        help="benchmarks/accuracy.py's results for "
                        'taobao-noview')
    parser.add_argument('--sharded-check', action='store_true')
    parser.add_argument('--json', default=None)
    parser.add_argument('--cell', nargs=2, metavar=('MODE', 'SCALE'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:  # a child process: one cell, one JSON line (rank 0's)
        cell = run_cell(args.cell[0], float(args.cell[1]), args.fanout,
                        args.steps, args.max_step_s)
        if os.environ.get('RANK', '0') == '0':
            print(json.dumps(cell))
        return
    res: Dict[str, Any] = {}
    if not args.sizes and args.json and os.path.exists(args.json):
        with open(args.json) as f:  # keep the timed cells
            res = json.load(f)
    else:
        res = {'command': 'python ' + ' '.join(sys.argv),
               'epoch_s_note': f'epoch_s = median of {args.steps} timed '
               'steps (after one warm-up) x steps per epoch, not a whole '
               'epoch run; OpenMP wait policy: '
               f'{_policy(args.omp_wait_policy)}.', 'fanout': args.fanout,
               'omp_wait_policy': _policy(args.omp_wait_policy),
               'cells': {}, 'epoch_s': {}}
    for mode in args.modes if args.sizes else []:
        res['cells'][mode], res['epoch_s'][mode] = {}, {}
        for size in args.sizes:
            key = f'x{size:g}'
            cell = _child(args, ['--cell', mode, str(size)])
            print(mode, key, json.dumps(cell), flush=True)
            res['cells'][mode][key] = cell
            res['epoch_s'][mode][key] = cell.get('epoch_s',
                                                 cell.get('status'))
    res['x16_over_x1'] = {
        mode: e['x16'] / e['x1'] for mode, e in res['epoch_s'].items()
        if isinstance(e.get('x1'), float) and isinstance(e.get('x16'), float)}
    if 'sampled' in res['x16_over_x1']:
        res['sampled_x16_over_x1'] = res['x16_over_x1']['sampled']
    if args.accuracy:
        res['taobao_noview'] = accuracy(args.accuracy)
        res['accuracy_command'] = 'python ' + ' '.join(sys.argv)
    if args.sharded_check:
        res['sharded_check'] = sharded_check()
        res['sharded_matches_single'] = res['sharded_check']['matches']
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        write_outputs(res, args.json)
    print(json.dumps({k: v for k, v in res.items() if k != 'cells'},
                     indent=2))


if __name__ == '__main__':
    main()
