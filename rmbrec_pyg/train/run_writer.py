r"""Everything a run writes about itself, behind one small interface: a
:class:`RunLogger` receives every epoch's row and the final metrics. The
built-in loggers write ``metrics.csv``, ``metrics.json``, the console line
and the plots; trackers (TensorBoard, MLflow, W&B in
:mod:`rmbrec_pyg.train.loggers`, or one of your own) plug in as more
:class:`RunLogger`\ s."""
import csv
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rmbrec_pyg.utils.io import atomic_write, write_json

log = logging.getLogger('rmbrec_pyg')

Row = Dict[str, Any]


class RunLogger:
    r"""The interface of a run tracker. Every method is optional."""
    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        r"""Called after every epoch with its row (``epoch``, ``train_s``,
        ``loss_<term>``, ``valid_<metric>``, ...) and all rows so far."""

    def log_metrics(self, metrics: Dict[str, Any]) -> None:
        r"""Called with the run's current metrics (after every epoch and
        once more at the end)."""

    def close(self, history: List[Row]) -> None:
        r"""Called once when training ends."""


class CSVLogger(RunLogger):
    r"""``metrics.csv``: one row per epoch with every loss term and metric
    (rewritten atomically, so it always matches ``last.pt``)."""
    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, 'metrics.csv')

    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        keys: List[str] = []
        for r in history:
            keys += [k for k in r if k not in keys]

        def write(f: Any) -> None:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(history)
        atomic_write(self.path, write)


class JSONLogger(RunLogger):
    r"""``metrics.json``: the metrics of the selected model."""
    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, 'metrics.json')

    def log_metrics(self, metrics: Dict[str, Any]) -> None:
        write_json(self.path, metrics)


class ConsoleLogger(RunLogger):
    r"""One log line per epoch: time, loss terms (with the regularizers'
    weighted values), per-behavior BPR and the monitored metric.

    Args:
        behaviors (Sequence[str]): Behavior names.
        weights (Mapping[str, float]): Each regularizer's weight.
        monitor (str): The monitored validation metric.
        protocol (str): The evaluation protocol's label, printed beside it.
    """
    def __init__(self, behaviors: Sequence[str], weights: Mapping[str, float],
                 monitor: str, protocol: str = '') -> None:
        self.behaviors = list(behaviors)
        self.weights = dict(weights)
        self.monitor = monitor
        self.protocol = protocol

    def format(self, row: Row, improved: bool) -> str:
        parts = [f"epoch {int(row['epoch']):3d}", f"{row['train_s']:.1f}s"]
        names = ['total', 'main', 'reg'] + list(self.weights)
        names += [k[5:] for k in row if k.startswith('loss_') and
                  not k.startswith('loss_bpr_') and k[5:] not in names]
        for name in names:
            key = f'loss_{name}'
            if key in row:
                txt = f'{name} {row[key]:.4f}'
                if name in self.weights:
                    w = self.weights[name]
                    txt += f' (x{w:g}={w * row[key]:.4f})'
                parts.append(txt)
        bpr = [f"{row[f'loss_bpr_{b}']:.3f}" for b in self.behaviors
               if f'loss_bpr_{b}' in row]
        if bpr:
            parts.append('bpr ' + '/'.join(bpr))
        metric = f'valid_{self.monitor}'
        if metric in row:
            parts.append(f'{metric} {row[metric]:.4f} [{self.protocol}]' +
                         (' *' if improved else ''))
        return ' | '.join(parts)

    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        log.info(self.format(row, improved))


def _pyplot() -> Any:
    # matplotlib is a dependency; without it (a bare machine running from a
    # checkout) the plots are skipped, nothing else.
    try:
        import matplotlib
    except ImportError:
        log.warning('matplotlib is not installed: no plots')
        return None
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


class CurvesPlotLogger(RunLogger):
    r"""``curves.png``: the loss terms and the monitored validation metric
    per epoch, redrawn at the end of the run.

    Args:
        out_dir (str): The run dir.
        monitor (str): The monitored validation metric.
        protocol (str): The evaluation protocol's label.
    """
    def __init__(self, out_dir: str, monitor: str, protocol: str = '') -> None:
        self.path = os.path.join(out_dir, 'curves.png')
        self.monitor = monitor
        self.protocol = protocol

    def close(self, history: List[Row]) -> None:
        plt = _pyplot() if history else None
        if plt is None:
            return
        epochs = [r['epoch'] for r in history]
        terms = [k for k in history[0] if k.startswith('loss_')]
        bpr = [k for k in terms if k.startswith('loss_bpr_') or
               k == 'loss_main']
        rest = [k for k in terms if k not in bpr and k != 'loss_total']
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        panels = ((axes[0, 0], ['loss_total'], 'total loss', False),
                  (axes[0, 1], bpr, 'BPR: main (fused) and per behavior',
                   False),
                  (axes[1, 0], rest, 'other terms, unweighted (log scale)',
                   True))
        for ax, keys, title, log_y in panels:
            for k in keys:
                ax.plot(epochs, [r.get(k, float('nan')) for r in history],
                        label=k[len('loss_'):], lw=1.5)
            if log_y and keys:
                ax.set_yscale('log')
            ax.set_title(title, fontsize=10)
            if keys:
                ax.legend(fontsize=8)
        metric = f'valid_{self.monitor}'
        pts = [(r['epoch'], r[metric]) for r in history if metric in r]
        ax = axes[1, 1]
        title = f'validation {self.monitor} [{self.protocol}]'
        if pts:
            ax.plot(*zip(*pts), marker='o', ms=3, color='C3')
            best = max(pts, key=lambda p: p[1])
            ax.axvline(best[0], color='grey', ls='--', lw=1)
            title += f'\nbest {best[1]:.4f} at epoch {best[0]}'
        ax.set_title(title, fontsize=10)
        for ax in axes.flat:
            ax.set_xlabel('epoch')
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(self.path, dpi=100)
        plt.close(fig)


class FusionPlotLogger(RunLogger):
    r"""``fusion_weights.png``: adaptive fusion's weights per epoch."""
    def __init__(self, out_dir: str, behaviors: Sequence[str]) -> None:
        self.path = os.path.join(out_dir, 'fusion_weights.png')
        self.behaviors = list(behaviors)

    def close(self, history: List[Row]) -> None:
        if not history or f'w_{self.behaviors[0]}' not in history[0]:
            return
        plt = _pyplot()
        if plt is None:
            return
        fig, ax = plt.subplots(figsize=(6, 3.5))
        epochs = [r['epoch'] for r in history]
        for b in self.behaviors:
            ax.plot(epochs, [r[f'w_{b}'] for r in history], label=b)
        ax.set_xlabel('epoch')
        ax.set_ylabel('fusion weight')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.path, dpi=110)
        plt.close(fig)


class RunWriter:
    r"""Keeps the run's per-epoch history and hands every epoch and the
    metrics to its loggers.

    Args:
        loggers (Sequence[RunLogger]): The trackers.
    """
    def __init__(self, loggers: Sequence[RunLogger] = ()) -> None:
        self.loggers = list(loggers)
        self.history: List[Row] = []

    @classmethod
    def default(cls, out_dir: Optional[str], behaviors: Sequence[str],
                weights: Mapping[str, float], monitor: str,
                protocol: str = '',
                extra: Sequence[RunLogger] = ()) -> 'RunWriter':
        r"""The console line, plus, with a run dir, ``metrics.csv``,
        ``metrics.json``, ``curves.png`` and ``fusion_weights.png`` (adaptive
        fusion); :obj:`extra` adds trackers (see
        :mod:`rmbrec_pyg.train.loggers`)."""
        loggers: List[RunLogger] = [ConsoleLogger(behaviors, weights,
                                                  monitor, protocol)]
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
            loggers += [CSVLogger(out_dir), JSONLogger(out_dir),
                        CurvesPlotLogger(out_dir, monitor, protocol),
                        FusionPlotLogger(out_dir, behaviors)]
        return cls(list(loggers) + list(extra))

    def log_epoch(self, row: Row, improved: bool) -> None:
        self.history.append(row)
        for logger in self.loggers:
            logger.log_epoch(row, self.history, improved)

    def log_metrics(self, metrics: Dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_metrics(metrics)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close(self.history)
