r"""Composing the project's Hydra config from Python (tests, benchmarks,
notebooks) without ``@hydra.main``."""
from typing import Any, Dict, List, Optional, Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rmbrec_pyg.cli import config_dir


def compose_config(overrides: Sequence[str] = (),
                   out_dir: Optional[str] = None) -> DictConfig:
    r"""Returns the composed config for :obj:`overrides` (as on the
    command line), with :obj:`out_dir` set for :func:`train`."""
    # Importing the CLI module registers the structured schemas.
    import rmbrec_pyg.cli.train  # noqa: F401
    with initialize_config_dir(config_dir=config_dir(), version_base='1.3'):
        cfg = compose(config_name='config', overrides=list(overrides))
    if out_dir is not None:
        with open_dict(cfg):
            cfg.out_dir = out_dir
    return cfg


def run(overrides: Sequence[str] = (), out_dir: Optional[str] = None
        ) -> Dict[str, Any]:
    r"""Composes the config and trains; returns the metrics."""
    from rmbrec_pyg.cli.train import train
    return train(compose_config(overrides, out_dir))




def evaluate(overrides: Sequence[str], checkpoint: str,
             calibrate: bool = False) -> Dict[str, Any]:
    r"""Composes the config of a trained run (its :obj:`overrides`), loads
    the encoder of :obj:`checkpoint` (e.g. a run's ``best.pt``) and returns
    its metrics as :func:`run` does (``valid``, ``test`` and their
    aux/direct groups), without training or writing anything.

    The data may differ from the training run's where the model does not
    see the difference (noise on a behavior it does not use: only the
    groups change). With :obj:`calibrate` and ``fusion=adaptive``, the
    validation-chosen target mix of adaptive fusion is applied, as at the
    end of training; ``'uncalibrated'`` then holds the metrics before it."""
    from rmbrec_pyg.cli.train import build_trainer
    from rmbrec_pyg.train.checkpoint import load
    trainer = build_trainer(compose_config(overrides), out=None)
    metrics = trainer.adopt(load(checkpoint, map_location=trainer.device))
    if calibrate:
        if trainer.fusion is None:
            raise ValueError('calibrate=True needs fusion=adaptive')
        trainer.calibrate()
        metrics = dict(trainer.metrics(), uncalibrated=metrics)
    return metrics
