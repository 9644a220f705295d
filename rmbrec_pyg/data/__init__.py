r"""Data: dataset folders, synthetic generators and PyG's Taobao to
:class:`~torch_geometric.data.HeteroData`, with their statistics."""
from rmbrec_pyg.utils.lazy import lazy_exports

# Imported on first use: see rmbrec_pyg.utils.lazy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    'rmbrec_pyg.data.errors': ['ConfigError', 'DatasetFormatError'],
    'rmbrec_pyg.data.hetero': ['build_hetero_data', 'edge_index_dict_of',
        'edge_type', 'rev_edge_type'],
    'rmbrec_pyg.data.dataset': ['BaseMultiBehaviorDataset',
        'MultiBehaviorDataset', 'load_folder'],
    'rmbrec_pyg.data.synthetic': ['RandomMultiBehaviorDataset',
        'SyntheticMultiBehaviorDataset', 'generate_multi_behavior'],
    'rmbrec_pyg.data.from_pyg': ['BehaviorEdgesToTypes', 'PyGTaobao'],
    'rmbrec_pyg.data.stats': ['BehaviorStats', 'compute_stats',
        'heldout_summary', 'training_bar'],
})
