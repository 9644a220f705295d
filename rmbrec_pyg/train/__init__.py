r"""Training: the loop (:class:`Trainer`), and beside it, one job a file,
the run's files and loggers (:mod:`~rmbrec_pyg.train.run_writer`),
checkpoints (:mod:`~rmbrec_pyg.train.checkpoint`), adaptive fusion's
calibration (:mod:`~rmbrec_pyg.train.calibration`) and data parallelism
(:mod:`~rmbrec_pyg.train.distributed`)."""
from rmbrec_pyg.train.config import (FusionConfig, LossConfig, OptimConfig,
                                     TrainerConfig)
from rmbrec_pyg.train.epoch_terms import TrainingDivergedError
from rmbrec_pyg.train.run_writer import RunLogger, RunWriter
from rmbrec_pyg.train.runtime import resolve_device, seed_everything
from rmbrec_pyg.train.trainer import Trainer

__all__ = ['FusionConfig', 'LossConfig', 'OptimConfig', 'TrainerConfig',
           'Trainer', 'TrainingDivergedError', 'RunLogger', 'RunWriter',
           'resolve_device', 'seed_everything']
