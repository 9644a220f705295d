from rmbrec_pyg.nn.behavior_conv import BehaviorConv
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder

__all__ = ['BehaviorConv', 'MultiBehaviorEncoder']
