from rmbrec_pyg.graph.adjacency import (HAS_TORCH_SPARSE,
                                        normalized_adjacency, spmm_normalize,
                                        symmetric_spmm)
from rmbrec_pyg.graph.device_sampling import DeviceBehaviorSampler
from rmbrec_pyg.graph.sampling import BehaviorSampler
from rmbrec_pyg.graph.transforms import PerturbAuxiliaryEdges

__all__ = ['HAS_TORCH_SPARSE', 'normalized_adjacency', 'symmetric_spmm', 'spmm_normalize',
           'BehaviorSampler', 'DeviceBehaviorSampler', 'PerturbAuxiliaryEdges']
