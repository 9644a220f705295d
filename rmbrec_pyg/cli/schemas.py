r"""The structured schemas of the Hydra config groups (``base_trainer``,
``base_loss``, ...), registered in Hydra's ConfigStore, so that a value of
the wrong type fails at composition. Light on purpose: ``rmbrec-train
--help`` composes the config through them without loading torch."""
from hydra.core.config_store import ConfigStore

from rmbrec_pyg.evaluation.config import EvalConfig
from rmbrec_pyg.train.config import LossConfig, OptimConfig, TrainerConfig
from rmbrec_pyg.train.extension_config import (FloorConfig, FusionConfig,
                                               RerankConfig)

SCHEMAS = {
    'trainer': ('base_trainer', TrainerConfig),
    'loss': ('base_loss', LossConfig),
    'optim': ('base_optim', OptimConfig),
    'fusion': ('base_fusion', FusionConfig),
    'eval': ('base_eval', EvalConfig),
    'floor': ('base_floor', FloorConfig),
    'rerank': ('base_rerank', RerankConfig),
}

for _group, (_name, _node) in SCHEMAS.items():
    ConfigStore.instance().store(group=_group, name=_name, node=_node)
