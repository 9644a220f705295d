from rmbrec_pyg.data.errors import ConfigError, DatasetFormatError
from rmbrec_pyg.data.hetero import (build_hetero_data, edge_index_dict_of,
                                    edge_type, rev_edge_type)
from rmbrec_pyg.data.dataset import (BaseMultiBehaviorDataset,
                                     MultiBehaviorDataset, load_folder)
from rmbrec_pyg.data.synthetic import (RandomMultiBehaviorDataset,
                                       SyntheticMultiBehaviorDataset,
                                       generate_multi_behavior)
from rmbrec_pyg.data.from_pyg import BehaviorEdgesToTypes, PyGTaobao
from rmbrec_pyg.data.stats import (BehaviorStats, compute_stats,
                                   heldout_summary, training_bar)

__all__ = [
    'ConfigError', 'DatasetFormatError', 'build_hetero_data',
    'edge_index_dict_of', 'edge_type', 'rev_edge_type',
    'BaseMultiBehaviorDataset', 'MultiBehaviorDataset', 'load_folder',
    'SyntheticMultiBehaviorDataset', 'RandomMultiBehaviorDataset',
    'generate_multi_behavior',
    'BehaviorEdgesToTypes', 'PyGTaobao', 'BehaviorStats', 'compute_stats', 'heldout_summary', 'training_bar'
]
