from rmbrec_pyg.train.config import LossConfig, OptimConfig, TrainerConfig
from rmbrec_pyg.train.loop import (Trainer, TrainingDivergedError,
                                   resolve_device, seed_everything)

__all__ = ['LossConfig', 'OptimConfig', 'TrainerConfig', 'Trainer',
           'TrainingDivergedError', 'resolve_device', 'seed_everything']
