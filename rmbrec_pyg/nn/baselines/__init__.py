r"""The baselines of the paper's comparison (Table 2), in the same harness
as RMBRec: the same data, sampler, evaluation, early stopping and seeds.
Each follows its own paper; the differences are in its docstring and in
the README."""
from rmbrec_pyg.nn.baselines.base import (CascadeBaseline,
                                         MultiBehaviorBaseline, cascade_order)
from rmbrec_pyg.nn.baselines.crgcn import CRGCN
from rmbrec_pyg.nn.baselines.mbcgcn import MBCGCN
from rmbrec_pyg.nn.baselines.pkef import PKEF
from rmbrec_pyg.nn.baselines.simgcl import SimGCL

#: Checkpoint name -> class (a checkpoint names its model; nothing else is
#: looked up, and no code is imported by name).
BASELINES = {cls.__name__: cls for cls in (SimGCL, CRGCN, MBCGCN, PKEF)}

__all__ = ['MultiBehaviorBaseline', 'CascadeBaseline', 'SimGCL', 'CRGCN',
           'MBCGCN', 'PKEF', 'BASELINES', 'cascade_order']
