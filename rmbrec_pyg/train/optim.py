r"""The optimizer of a run."""
from typing import Any, Dict, List, Sequence

import torch
from torch.nn import Module

from rmbrec_pyg.train.config import OptimConfig


def build_optimizer(encoder: Module, objective: Module, optim: OptimConfig,
                    capturable: bool = False,
                    exclude: Sequence[torch.Tensor] = ()
                    ) -> torch.optim.Optimizer:
    r"""Adam over the trainable parameters of the encoder and of the
    objective's regularizers; a learned fusion gate and a target tower (its
    own light L2 instead, as LightGCN) get no weight decay.
    :obj:`capturable` keeps its step count on the device (CUDA graphs);
    the parameters in :obj:`exclude` are left out (they have their own
    optimizer, see :mod:`rmbrec_pyg.train.sparse_tables`)."""
    fusion = getattr(encoder, 'fusion', None)
    tower = getattr(encoder, 'target_tower', None)
    free = ([] if fusion is None else [fusion.gate]) + (
        [] if tower is None else list(tower.parameters()))
    free = [p for p in free if p.requires_grad]
    params = [p for p in encoder.parameters()
              if p.requires_grad and not any(p is g for g in free) and
              not any(p is x for x in exclude)]
    params += [p for p in objective.parameters() if p.requires_grad]
    groups: List[Dict[str, Any]] = [{'params': params}]
    if free:
        groups.append({'params': free, 'weight_decay': 0.0})
    extra = {'capturable': True} if capturable else {}
    return torch.optim.Adam(groups, lr=optim.lr,
                            weight_decay=optim.weight_decay,
                            fused=optim.fused or None, **extra)
