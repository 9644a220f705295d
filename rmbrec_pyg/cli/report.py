r"""``rmbrec-report MULTIRUN_DIR``: one table of a sweep's runs.

Collects every run dir below MULTIRUN_DIR that holds ``metrics.json``,
with its overrides (``.hydra/overrides.yaml``), into ``report.md`` and
``report.csv`` in MULTIRUN_DIR; when the runs form a
``regularizer.rrm.weight`` x ``regularizer.orm.weight`` grid, a heatmap of
validation and test HR@10 (``lambda_heatmap.png``, like the paper's Fig. 4);
for an Optuna search (``hparams_search=optuna``), the best trial and
``trials.png``: the validation metric of every trial in order with the best
so far, and against each searched parameter.
"""
import argparse
import csv
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from rmbrec_pyg.cli import quiet_pipe
from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.utils.io import atomic_write, write_text

L1, L2 = 'regularizer.rrm.weight', 'regularizer.orm.weight'


def _overrides(run_dir: str) -> Dict[str, str]:
    path = os.path.join(run_dir, '.hydra', 'overrides.yaml')
    out: Dict[str, str] = {}
    if os.path.exists(path):
        from omegaconf import OmegaConf
        for item in OmegaConf.load(path):
            key, _, value = str(item).partition('=')
            out[key.lstrip('+~')] = value
    return out


def collect(root: str) -> List[Dict[str, Any]]:
    r"""Every run below :obj:`root`: overrides, best epoch and metrics."""
    if not os.path.isdir(root):
        raise ConfigError(f"'{root}' is not a folder")
    rows = []
    for dirpath, _, files in sorted(os.walk(root)):
        if 'metrics.json' not in files:
            continue
        path = os.path.join(dirpath, 'metrics.json')
        try:
            with open(path) as f:
                m = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise ConfigError(f'{path}: not readable JSON ({e}); the file '
                              'is truncated or was edited')
        if not isinstance(m, dict):
            raise ConfigError(f'{path}: expected a JSON object of metrics')
        row: Dict[str, Any] = {'run': os.path.relpath(dirpath, root)}
        row.update(_overrides(dirpath))
        row['best_epoch'] = m.get('best_epoch')
        row['_finished'] = os.path.getmtime(os.path.join(dirpath,
                                                         'metrics.json'))
        # Runs of versions before the protocols were named scored per pair.
        row['protocol'] = m.get('protocol', 'pair/full')
        for split in ('valid', 'test'):
            for k, v in m.get(split, {}).items():
                row[f'{split} {k}'] = v
        rows.append(row)
    if not rows:
        raise ConfigError(f"no run with metrics.json below '{root}'")
    return rows


#: The metrics ``report.md`` shows (``report.csv`` has every one).
SHOWN_METRICS = ('HR@10', 'NDCG@10')


def _fmt(v: Any) -> str:
    return f'{v:.4f}' if isinstance(v, float) else str(v)


def _columns(rows: List[Dict[str, Any]]) -> List[str]:
    # every key of every row, in order of appearance (private ones out)
    keys: List[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and not k.startswith('_')]
    return keys


def table_columns(rows: List[Dict[str, Any]]) -> Tuple[List[str],
                                                      Dict[str, str]]:
    r"""The columns of ``report.md`` and the settings every run shares: a
    column whose value is the same in every run is said once above the
    table instead, and only :data:`SHOWN_METRICS` of validation and test
    are shown (of those the runs have; all of them are in ``report.csv``).
    """
    keys = _columns(rows)
    metrics = [k for k in keys if k.startswith(('valid ', 'test '))]
    shown = [k for k in metrics if k.split(' ', 1)[1] in SHOWN_METRICS] \
        or metrics[:4]
    settings = [k for k in keys if k not in metrics and k != 'run']
    shared = {k: _fmt(rows[0].get(k, '')) for k in settings
              if len(rows) > 1 and
              len({_fmt(r.get(k, '')) for r in rows}) == 1}
    columns = ['run'] + [k for k in settings if k not in shared] + shown
    return columns, shared


def write_tables(rows: List[Dict[str, Any]], root: str) -> None:
    keys = _columns(rows)

    def write_csv(f: Any) -> None:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction='ignore')
        w.writeheader()
        w.writerows(rows)
    atomic_write(os.path.join(root, 'report.csv'), write_csv)

    columns, shared = table_columns(rows)
    order = sorted(rows, key=lambda r: -(r.get('valid HR@10') or 0.0))
    lines = ['| ' + ' | '.join(columns) + ' |',
             '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(_fmt(r.get(k, '')) for k in columns) + ' |'
              for r in order]
    same = ''
    if shared:
        same = 'The same in every run: ' + ', '.join(
            f'{k} {v}' if ' ' in k or k in ('best_epoch', 'protocol')
            else f'{k}={v}' for k, v in shared.items()) + '.\n\n'
    protocols = sorted({str(r.get('protocol')) for r in rows})
    best = ''
    results = os.path.join(root, 'optimization_results.yaml')
    if os.path.exists(results):
        from omegaconf import OmegaConf
        res = OmegaConf.to_container(OmegaConf.load(results))
        best = (f"Optuna's best trial: validation {res.get('best_value')} "  # type: ignore
                f"with {res.get('best_params')}; see trials.png.\n\n")  # type: ignore
    write_text(os.path.join(root, 'report.md'),
               f'# Sweep report: {os.path.abspath(root)}\n\n'
               f'{len(rows)} runs, best validation HR@10 first; evaluation '
               f"protocol: {', '.join(protocols)}. Every metric of every run "
               'is in report.csv.\n\n' + same + best +
               '\n'.join(lines) + '\n')


def heatmap(rows: List[Dict[str, Any]], root: str) -> Optional[str]:
    grid = [r for r in rows if L1 in r and L2 in r]
    if not grid or os.path.exists(os.path.join(
            root, 'optimization_results.yaml')):  # a search: trials.png
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    l1 = sorted({float(r[L1]) for r in grid})
    l2 = sorted({float(r[L2]) for r in grid})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, split in zip(axes, ('valid', 'test')):
        mat = np.full((len(l2), len(l1)), np.nan)
        for r in grid:
            v = r.get(f'{split} HR@10')
            if v is not None:
                mat[l2.index(float(r[L2])), l1.index(float(r[L1]))] = v
        im = ax.imshow(mat, origin='lower', cmap='viridis', aspect='auto')
        for i in range(len(l2)):
            for j in range(len(l1)):
                if not np.isnan(mat[i, j]):
                    # dark text on the light (yellow, green) end of the
                    # map, white on the dark (blue, purple) end
                    light = im.norm(mat[i, j]) > 0.55
                    ax.text(j, i, f'{mat[i, j]:.4f}', ha='center',
                            va='center', fontsize=8,
                            color='black' if light else 'white')
        ax.set_xticks(range(len(l1)), [f'{v:g}' for v in l1])
        ax.set_yticks(range(len(l2)), [f'{v:g}' for v in l2])
        ax.set_xlabel('lambda1 (RRM weight)')
        ax.set_ylabel('lambda2 (ORM weight)')
        ax.set_title(f'{split} HR@10 [{grid[0].get("protocol")}]')
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    path = os.path.join(root, 'lambda_heatmap.png')
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _numeric(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def trials(rows: List[Dict[str, Any]], root: str,
           metric: str = 'valid HR@10') -> Optional[str]:
    r"""``trials.png`` of a search: the metric per trial (in the order the
    runs finished) with the best so far, and against every parameter that
    varies. :obj:`None` unless ``optimization_results.yaml`` (Hydra's
    Optuna sweeper) is in :obj:`root`."""
    if not os.path.exists(os.path.join(root, 'optimization_results.yaml')):
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    runs = sorted((r for r in rows if r.get(metric) is not None),
                  key=lambda r: r['_finished'])
    params = [k for k in runs[0] if '.' in k and not k.startswith(
        ('valid ', 'test ')) and len({r.get(k) for r in runs}) > 1 and all(
            _numeric(r.get(k)) is not None for r in runs)] if runs else []
    from matplotlib.ticker import NullFormatter
    cols = min(3, 1 + len(params))
    lines = -(-(1 + len(params)) // cols)
    fig, grid = plt.subplots(lines, cols, figsize=(4.4 * cols, 3.4 * lines),
                             squeeze=False)
    axes = list(grid.flat)
    for ax in axes[1 + len(params):]:
        ax.axis('off')
    ax = axes[0]
    values = [r[metric] for r in runs]
    ax.plot(range(1, len(values) + 1), values, 'o', label='trial')
    ax.plot(range(1, len(values) + 1),
            [max(values[:i + 1]) for i in range(len(values))], '-',
            label='best so far')
    ax.set_xlabel('trial')
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for ax, p in zip(axes[1:], params):
        ax.scatter([_numeric(r[p]) for r in runs], values)
        if p.endswith('.lr'):
            ax.set_xscale('log')
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(p)
        ax.grid(alpha=0.3)
    fig.suptitle(f'{len(runs)} trials [{runs[0].get("protocol")}]'
                 if runs else 'no trials')
    fig.tight_layout()
    path = os.path.join(root, 'trials.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Optional[List[str]] = None) -> None:
    quiet_pipe()
    parser = argparse.ArgumentParser(prog='rmbrec-report',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('multirun_dir')
    args = parser.parse_args(argv)

    def run() -> None:
        rows = collect(args.multirun_dir)
        write_tables(rows, args.multirun_dir)
        pngs = [p for p in (heatmap(rows, args.multirun_dir),
                            trials(rows, args.multirun_dir)) if p]
        print(f'{len(rows)} runs -> report.md, report.csv' +
              ''.join(f', {os.path.basename(p)}' for p in pngs))
        print(open(os.path.join(args.multirun_dir, 'report.md')).read())

    report_user_errors('rmbrec-report', run)


if __name__ == '__main__':
    main()
