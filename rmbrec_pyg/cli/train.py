r"""``rmbrec-train``: trains RMBRec (or an ablation) from Hydra configs.

Examples::

    rmbrec-train                                   # synthetic demo data
    rmbrec-train data=folder data.root=path/to/taobao trainer.max_epochs=1
    rmbrec-train experiment=taobao_noview data.root=../shared/data/taobao-noview
    rmbrec-train -m sweep=lambda_grid              # lambda1 x lambda2 grid
"""
import json
import logging
import os
import sys
import warnings
from typing import Any, Dict, List

import hydra
from omegaconf import DictConfig

from rmbrec_pyg.cli import config_dir
from rmbrec_pyg.cli.builders import (build_trainer, compose_config, output_dir,
                                     score_baseline)
from rmbrec_pyg.cli.errors import USER_ERRORS, fail
from rmbrec_pyg.train import distributed
from rmbrec_pyg.train.epoch_terms import TrainingDivergedError

log = logging.getLogger('rmbrec_pyg')


def train(cfg: DictConfig) -> Dict[str, Any]:
    r"""Builds data, encoder and regularizers from :obj:`cfg`, trains and
    returns the metrics. Plain function: usable without ``@hydra.main``
    (e.g. on a config from :func:`hydra.compose`)."""
    out = output_dir(cfg)
    os.makedirs(out, exist_ok=True)
    if cfg.get('baseline'):  # scored at once, nothing to train
        metrics = score_baseline(cfg, out)
        print(f"{cfg.baseline} [{metrics['protocol']}]: test "
              f"{format_metrics(metrics['test'])}", flush=True)
        return metrics
    trainer = build_trainer(cfg, out)
    log.info('device: %s, run dir: %s', trainer.device, out)
    metrics = trainer.fit()
    distributed.finish(trainer)
    if trainer.rank != 0:
        return metrics
    line = format_metrics(metrics['test'])
    log.info('best epoch %d | test %s', metrics['best_epoch'], line)
    with open(os.path.join(out, 'metrics.json')) as f:
        json.load(f)  # written by the trainer; fail loudly if not
    print(summary(out, metrics, trainer.epoch, trainer.config.monitor),
          flush=True)
    return metrics


def summary(out: str, metrics: Dict[str, Any], epochs: int,
            monitor: str) -> str:
    r"""The closing lines of a run: where it wrote what, the selected epoch
    and its test metrics."""
    files = sorted(f + ('/' if os.path.isdir(os.path.join(out, f)) else '')
                   for f in os.listdir(out) if not f.startswith('.tmp'))
    return '\n'.join([
        f'run dir: {os.path.abspath(out)}',
        f"files: {', '.join(files)}",
        f"best epoch: {metrics['best_epoch']} of {epochs} (by validation "
        f"{monitor}, {metrics['protocol']})",
        f"test (best validation epoch {metrics['best_epoch']}, "
        f"{metrics['protocol']}): {format_metrics(metrics['test'])}"])


def format_metrics(metrics: Dict[str, float]) -> str:
    r"""``HR@10 0.1234 NDCG@10 ...``, in the registry's order."""
    return ' '.join(f'{k} {v:.4f}' for k, v in metrics.items())


@hydra.main(config_path=config_dir(), config_name='config',
            version_base='1.3')
def _hydra_main(cfg: DictConfig) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('default')
            metrics = train(cfg)
    except USER_ERRORS as e:
        fail('rmbrec-train', str(e))
    except TrainingDivergedError as e:
        print(f'rmbrec-train: training stopped: {e}', file=sys.stderr,
              flush=True)
        sys.exit(1)
    return float(metrics['valid'].get(cfg.trainer.monitor, 0.0))


def _precheck(argv: List[str]) -> None:
    # Hydra reports composition errors (an unknown preset such as
    # ``data=foo``, a value of the wrong type) as a multi-line message with
    # exit code 1. For a single run, compose first and report such mistakes
    # as one line with exit code 2, like every other input error.
    if any(a.startswith('-') or a.startswith('sweep=') for a in argv):
        return  # --help, --cfg, -m ...: Hydra's business
    argv = [a for a in argv if not a.startswith('hydra.')]
    if any(',' in a.split('=', 1)[-1] and '[' not in a for a in argv):
        return  # a sweep
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    try:
        compose_config(argv)
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        if 'hydra/sweeper/optuna' in first:
            first += " (pip install 'rmbrec_pyg[optuna]')"
        fail('rmbrec-train', f'invalid configuration: {first}')


def main() -> None:
    r"""Console entry point (``rmbrec-train``)."""
    _precheck(sys.argv[1:])
    _hydra_main()
    if distributed.under_torchrun():
        # Under torchrun, leave without running interpreter finalisers (see
        # rmbrec_pyg.train.distributed.finish).
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
