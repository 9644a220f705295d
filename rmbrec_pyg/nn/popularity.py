from typing import Tuple

import torch
from torch import Tensor
from torch.nn import Module


class MostPopular(Module):
    r"""The most-popular baseline: every user gets the items ranked by how
    often they were bought in training. Exposes :meth:`get_embedding` like
    the encoders (one-dimensional: users are ones, items their counts), so
    the same evaluation code ranks it.

    Args:
        edge_index (Tensor): :obj:`[2, E]` training target pairs.
        num_users (int): Number of users.
        num_items (int): Number of items.
    """
    def __init__(self, edge_index: Tensor, num_users: int,
                 num_items: int) -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        count = torch.bincount(edge_index[1], minlength=num_items)
        self.register_buffer('count', count.to(torch.float).view(-1, 1))

    def get_embedding(self, *args: object) -> Tuple[Tensor, Tensor]:
        return (torch.ones(self.num_users, 1, device=self.count.device),
                self.count)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.num_users}, {self.num_items})'
