from typing import Any, Tuple

import torch
from torch import Tensor
from torch.nn import Embedding, Module

from rmbrec_pyg.nn.behavior_conv import BehaviorConv


class TargetTower(Module):
    r"""A LightGCN on the target behavior alone, with embedding tables of its
    own (`"LightGCN" <https://arxiv.org/abs/2002.02126>`_: mean of the
    layers, trained with its own light L2 and no weight decay), to sit
    beside the multi-behavior towers of
    :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder`: purchases that no
    auxiliary behavior announces are what target-only collaborative
    filtering predicts best. :class:`ScoreBlend` mixes the two.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        target (str): The target behavior (its graph is propagated).
        embedding_dim (int): Embedding size. (default: :obj:`64`)
        num_layers (int): Propagation layers. (default: :obj:`3`)
        init_std (float): Std of the normal initialisation.
            (default: :obj:`0.1`)
    """
    def __init__(self, num_users: int, num_items: int, target: str,
                 embedding_dim: int = 64, num_layers: int = 3,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.target = target
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.init_std = init_std
        self.user_embedding = Embedding(num_users, embedding_dim)
        self.item_embedding = Embedding(num_items, embedding_dim)
        self.conv = BehaviorConv()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        torch.nn.init.normal_(self.item_embedding.weight, std=self.init_std)

    def forward(self, adj: Any) -> Tuple[Tensor, Tensor]:
        r"""User and item embeddings :obj:`[U, F]`, :obj:`[I, F]`."""
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = x
        for layer in range(self.num_layers):
            x = self.conv(x, adj)
            out = out + x if layer == 0 else out.add_(x)
        out = out / (self.num_layers + 1)
        return out.split([self.num_users, self.num_items])

    def config(self) -> dict:
        return {'target': self.target, 'embedding_dim': self.embedding_dim,
                'num_layers': self.num_layers, 'init_std': self.init_std}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f"{self.num_items}, target='{self.target}', "
                f'embedding_dim={self.embedding_dim}, '
                f'num_layers={self.num_layers})')
