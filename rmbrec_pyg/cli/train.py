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

from rmbrec_pyg.cli import schemas  # noqa: F401 (registers the schemas)
from rmbrec_pyg.cli import config_dir, quiet_pipe
from rmbrec_pyg.cli.errors import USER_ERRORS, fail

# torch, torch_geometric and the builders load when a run starts, so that
# --help, --cfg and mistakes found at composition answer at once.

log = logging.getLogger('rmbrec_pyg')


def train(cfg: DictConfig) -> Dict[str, Any]:
    r"""Builds data, encoder and regularizers from :obj:`cfg`, trains and
    returns the metrics. Plain function: usable without ``@hydra.main``
    (e.g. on a config from :func:`hydra.compose`). The run dir is held
    while the run writes it, and one that already holds a run is refused
    unless ``trainer.resume`` or ``trainer.overwrite`` is set (see
    :mod:`rmbrec_pyg.cli.run_dir`)."""
    from rmbrec_pyg.cli.builders import output_dir
    from rmbrec_pyg.cli.run_dir import claim
    out = output_dir(cfg)
    trainer_cfg = cfg.get('trainer') or {}
    with claim(out, resume=bool(trainer_cfg.get('resume', False)),
               overwrite=bool(trainer_cfg.get('overwrite', False))):
        return _train(cfg, out)


def _train(cfg: DictConfig, out: str) -> Dict[str, Any]:
    from rmbrec_pyg.cli.builders import build_trainer, score_baseline
    from rmbrec_pyg.train import distributed
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
                   for f in os.listdir(out)
                   if not f.startswith('.tmp') and f != '.lock')
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
    from rmbrec_pyg.train.epoch_terms import TrainingDivergedError
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
    if 'hparams_search=optuna' in argv:  # single run or -m
        try:
            import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
        except ImportError:
            fail('rmbrec-train', "hparams_search=optuna needs Hydra's Optuna "
                 "sweeper: pip install 'rmbrec_pyg[optuna]'")
    if any(a.startswith('-') or a.startswith('sweep=') for a in argv):
        return  # --help, --cfg, -m ...: Hydra's business
    run_dirs = [a.split('=', 1)[1] for a in argv
                if a.startswith('hydra.run.dir=')]
    argv = [a for a in argv if not a.startswith('hydra.')]
    if any(',' in a.split('=', 1)[-1] and '[' not in a for a in argv):
        return  # a sweep
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from rmbrec_pyg.cli.builders import compose_config
    from rmbrec_pyg.cli.config_errors import (base_config, composition_error,
                                              unknown_keys)
    try:
        cfg = compose_config(argv)
    except (HydraException, OmegaConfBaseException) as e:
        fail('rmbrec-train', 'invalid configuration: ' +
             composition_error(e, argv, base_config(argv)))
    unknown = unknown_keys(cfg, schemas.SCHEMAS)
    if unknown:
        fail('rmbrec-train', f'invalid configuration: {unknown[0]}')
    if run_dirs and os.environ.get('RANK', '0') == '0':
        # before Hydra writes .hydra/ and train.log there (rank 0 only: it
        # holds the run dir for every rank of a distributed run)
        from rmbrec_pyg.cli.run_dir import probe
        try:
            probe(run_dirs[-1], bool(cfg.trainer.resume),
                  bool(cfg.trainer.overwrite))
        except USER_ERRORS as e:
            fail('rmbrec-train', str(e))


def config_groups(root: str) -> Dict[str, List[str]]:
    r"""The config groups under :obj:`root` and their options, read from
    the folder (the structured ``base_*`` schemas are not options)."""
    groups: Dict[str, List[str]] = {}
    for group in sorted(os.listdir(root)):
        folder = os.path.join(root, group)
        if os.path.isdir(folder):
            groups[group] = sorted(
                f[:-5] for f in os.listdir(folder) if f.endswith('.yaml'))
    return groups


def help_text() -> str:
    r"""``rmbrec-train --help``: the examples, the config groups and their
    options and where to see the composed config. Read from the config
    folder, not composed: Hydra's own help takes seconds for this many
    groups (``--hydra-help`` still prints Hydra's flags)."""
    lines = ['usage: rmbrec-train [group=option ...] [key=value ...] '
             '[-m] [--cfg job] [--hydra-help]', '',
             __doc__.split('Examples::', 1)[1].strip('\n'), '',
             '== Configuration groups (group=option) ==']
    lines += [f'{g}: {", ".join(opts)}'
              for g, opts in config_groups(config_dir()).items()]
    lines += ['', 'Override any key with key=value (e.g. trainer.max_epochs=5'
              ' optim.lr=1e-3); add a key', 'the config lacks with +key=value.'
              ' Print the composed config:', '  rmbrec-train [overrides] '
              '--cfg job']
    return '\n'.join(lines)


def main() -> None:
    r"""Console entry point (``rmbrec-train``)."""
    quiet_pipe()
    if any(a in ('-h', '--help') for a in sys.argv[1:]):
        print(help_text())
        return
    _precheck(sys.argv[1:])
    _hydra_main()
    from rmbrec_pyg.train import distributed
    if distributed.under_torchrun():
        # Under torchrun, leave without running interpreter finalisers (see
        # rmbrec_pyg.train.distributed.finish).
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
