r"""Training: the loop (:class:`Trainer`), and beside it, one job a file,
the run's files and loggers (:mod:`~rmbrec_pyg.train.run_writer`),
checkpoints (:mod:`~rmbrec_pyg.train.checkpoint`), adaptive fusion's
calibration (:mod:`~rmbrec_pyg.train.calibration`) and data parallelism
(:mod:`~rmbrec_pyg.train.distributed`)."""
from rmbrec_pyg.utils.lazy import lazy_exports

# Imported on first use: see rmbrec_pyg.utils.lazy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    'rmbrec_pyg.train.config': ['LossConfig', 'OptimConfig', 'TrainerConfig'],
    'rmbrec_pyg.train.extension_config': ['FusionConfig'],
    'rmbrec_pyg.train.epoch_terms': ['TrainingDivergedError'],
    'rmbrec_pyg.train.run_writer': ['RunLogger', 'RunWriter'],
    'rmbrec_pyg.train.runtime': ['resolve_device', 'seed_everything'],
    'rmbrec_pyg.train.trainer': ['Trainer'],
})
