r"""From a checkpoint's model configuration back to a module: RMBRec's
encoder, or a baseline named by its configuration."""
from typing import Any, Mapping

from torch.nn import Module

from rmbrec_pyg.nn.baselines import BASELINES
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder


def model_from_config(config: Mapping[str, Any]) -> Module:
    r"""Builds the model of :meth:`MultiBehaviorEncoder.config` or of a
    baseline's :meth:`~rmbrec_pyg.nn.baselines.MultiBehaviorBaseline.config`
    (its ``'model'`` names the class; only the classes of
    :obj:`BASELINES` are accepted). Weights come from
    :meth:`load_state_dict`."""
    name = config.get('model')
    if name is None:
        return MultiBehaviorEncoder.from_config(config)
    if name == 'MostPopular':  # not trained: the rules of the harness
        from rmbrec_pyg.nn.popularity import MostPopular
        return MostPopular.from_config(config)
    if name not in BASELINES:
        raise ValueError(f"Could not resolve model '{name}' among choices "
                         f"{sorted(BASELINES) + ['MostPopular']}")
    return BASELINES[name].from_config(config)
