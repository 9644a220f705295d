from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module


class MostPopular(Module):
    r"""The most-popular baseline: every user gets the items ranked by how
    often they were bought in training. Exposes :meth:`get_embedding` like
    the encoders (one-dimensional: users are ones, items their counts
    divided by the largest count plus one, so every score lies in
    :math:`[0, 1)`), so the same evaluation code ranks it; with a
    re-finding boost (:class:`~rmbrec_pyg.evaluation.refind.Refind`) it is
    the "unbought auxiliary items first" rule (``model=aux_first``).

    Args:
        edge_index (Tensor): :obj:`[2, E]` training target pairs.
        num_users (int): Number of users.
        num_items (int): Number of items.
        target (str): The target behavior. (default: :obj:`'buy'`)
    """
    count: Tensor

    def __init__(self, edge_index: Tensor, num_users: int,
                 num_items: int, target: str = 'buy') -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        self.target = target
        self.behaviors = [target]
        self.sparse_backend = 'torch'
        count = torch.bincount(edge_index[1], minlength=num_items)
        self.register_buffer('count', count.to(torch.float).view(-1, 1))

    @staticmethod
    def build_adjacency(*args: Any, **kwargs: Any) -> Dict[str, Any]:
        r"""Nothing to propagate (the encoders' interface)."""
        return {}

    def get_embedding(self, *args: object) -> Tuple[Tensor, Tensor]:
        return (torch.ones(self.num_users, 1, device=self.count.device),
                self.count / (self.count.max().clamp(min=0) + 1.0))

    def demote_users(self) -> Optional[Tensor]:
        return None

    def config(self) -> Dict[str, Any]:
        r"""The constructor arguments (counts come from the state), for
        checkpoints (see :func:`~rmbrec_pyg.nn.registry.
        model_from_config`)."""
        return {'model': self.__class__.__name__,
                'num_users': self.num_users, 'num_items': self.num_items,
                'target': self.target}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> 'MostPopular':
        return cls(torch.zeros(2, 0, dtype=torch.long),
                   int(config['num_users']), int(config['num_items']),
                   str(config.get('target', 'buy')))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.num_users}, {self.num_items})'
