r"""One integer per ``(user, item)`` pair, :math:`u \cdot |\mathcal{I}| + i`,
for set operations on pairs (membership, overlap, deduplication)."""
from typing import Any

import torch
from torch import Tensor


def pair_keys(index: Any, num_items: int) -> Any:
    r"""The keys of a :obj:`[2, E]` ``(user, item)`` index (a tensor or a
    NumPy array; the result has the same type)."""
    return index[0] * num_items + index[1]


def keys_to_pairs(keys: Tensor, num_items: int) -> Tensor:
    r"""The :obj:`[2, E]` ``(user, item)`` index of :obj:`keys`."""
    return torch.stack([keys // num_items, keys % num_items])
