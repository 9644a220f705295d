from rmbrec_pyg.nn.baselines import (CRGCN, MBCGCN, PKEF,
                                     MultiBehaviorBaseline, SimGCL)
from rmbrec_pyg.nn.behavior_conv import BehaviorConv
from rmbrec_pyg.nn.blend import ScoreBlend
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.nn.fusion import AdaptiveFusion
from rmbrec_pyg.nn.lightgcn import MultiBehaviorLightGCN
from rmbrec_pyg.nn.popularity import MostPopular
from rmbrec_pyg.nn.registry import model_from_config
from rmbrec_pyg.nn.target_tower import TargetTower

__all__ = ['BehaviorConv', 'MultiBehaviorEncoder', 'AdaptiveFusion',
           'MultiBehaviorLightGCN', 'MostPopular', 'TargetTower',
           'ScoreBlend', 'MultiBehaviorBaseline', 'SimGCL', 'CRGCN',
           'MBCGCN', 'PKEF', 'model_from_config']
