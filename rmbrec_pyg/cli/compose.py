r"""The Python API of the command line: compose the project's Hydra config
and train or score a run from Python (tests, benchmarks, notebooks), without
``@hydra.main``."""
from typing import Any, Dict, Optional, Sequence

from rmbrec_pyg.cli.builders import build_trainer, compose_config
from rmbrec_pyg.cli.train import train
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.train.checkpoint import load_checkpoint

__all__ = ['compose_config', 'run', 'evaluate']


def run(overrides: Sequence[str] = (), out_dir: Optional[str] = None
        ) -> Dict[str, Any]:
    r"""Composes the config and trains; returns the metrics."""
    return train(compose_config(overrides, out_dir))


def evaluate(overrides: Sequence[str], checkpoint: str,
             calibrate: bool = False) -> Dict[str, Any]:
    r"""Composes the config of a trained run (its :obj:`overrides`), loads
    the encoder of :obj:`checkpoint` (e.g. a run's ``best.pt``) and returns
    its metrics as :func:`run` does (``valid``, ``test`` and their
    aux/direct groups), without training or writing anything.

    The data may differ from the training run's where the model does not
    see the difference (noise on a behavior it does not use: only the
    groups change). With :obj:`calibrate`, the choices made on validation
    after training (adaptive fusion's target mix, the target floor's blend)
    are made again under :obj:`overrides`, as at the end of training (they
    do not change training: a run with another grid of choices trains the
    same); ``'uncalibrated'`` then holds the metrics before."""
    trainer = build_trainer(compose_config(overrides), out=None)
    metrics = trainer.adopt(load_checkpoint(checkpoint, trainer.device))
    if calibrate:
        if trainer.calibration is None:
            raise ConfigError('calibrate=True needs fusion=adaptive or '
                              'floor=tower')
        trainer.calibration.run(trainer)
        metrics = dict(trainer.metrics(), uncalibrated=metrics)
    return metrics
