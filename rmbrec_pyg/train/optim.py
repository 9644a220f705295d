r"""The optimizer of a run."""
from typing import Any, Dict, List

import torch
from torch.nn import Module

from rmbrec_pyg.train.config import OptimConfig


def build_optimizer(encoder: Module, objective: Module, optim: OptimConfig,
                    capturable: bool = False) -> torch.optim.Optimizer:
    r"""Adam over the trainable parameters of the encoder and of the
    objective's regularizers; a learned fusion gate gets no weight decay.
    :obj:`capturable` keeps its step count on the device (CUDA graphs)."""
    fusion = getattr(encoder, 'fusion', None)
    gate = [] if fusion is None else [fusion.gate]
    params = [p for p in encoder.parameters()
              if p.requires_grad and not any(p is g for g in gate)]
    params += [p for p in objective.parameters() if p.requires_grad]
    groups: List[Dict[str, Any]] = [{'params': params}]
    if gate and gate[0].requires_grad:
        groups.append({'params': gate, 'weight_decay': 0.0})
    extra = {'capturable': True} if capturable else {}
    return torch.optim.Adam(groups, lr=optim.lr,
                            weight_decay=optim.weight_decay,
                            fused=optim.fused or None, **extra)
