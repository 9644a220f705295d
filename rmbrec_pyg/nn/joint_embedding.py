r"""One :obj:`[U + I, F]` embedding over two tables, as PyG's homogeneous
LightGCN holds users and items in one :class:`torch.nn.Embedding`."""
from torch import Tensor
from torch.nn import Embedding
import torch


class JointEmbedding:
    r"""A read-only view of a user and an item :class:`~torch.nn.Embedding`
    as one table over users :obj:`0..U-1`, then items :obj:`U..U+I-1`:
    :obj:`weight` is their concatenation and calling it looks rows up, as
    ``model.embedding`` of PyG's
    :class:`~torch_geometric.nn.models.LightGCN` does. Gradients flow into
    the two tables; write to them, not to :obj:`weight`.

    Args:
        users (Embedding): The user table.
        items (Embedding): The item table.
    """
    def __init__(self, users: Embedding, items: Embedding) -> None:
        self.users, self.items = users, items

    @property
    def num_embeddings(self) -> int:
        return self.users.num_embeddings + self.items.num_embeddings

    @property
    def embedding_dim(self) -> int:
        return self.users.embedding_dim

    @property
    def weight(self) -> Tensor:
        r"""The :obj:`[U + I, F]` concatenation (a new tensor each time)."""
        return torch.cat([self.users.weight, self.items.weight])

    def __call__(self, index: Tensor) -> Tensor:
        r"""Rows :obj:`index` of the joint table, without concatenating it.
        """
        num_users = self.users.num_embeddings
        is_item = index >= num_users
        out = self.users.weight.new_empty(index.shape + (self.embedding_dim,))
        out[~is_item] = self.users(index[~is_item])
        out[is_item] = self.items(index[is_item] - num_users)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_embeddings}, '
                f'{self.embedding_dim})')
