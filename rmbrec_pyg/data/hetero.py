r"""Builds the :class:`~torch_geometric.data.HeteroData` that every dataset
of this package yields.

Layout (for behaviors ``['view', 'cart', 'buy']`` and target ``'buy'``):

* ``data['user'].num_nodes``, ``data['item'].num_nodes``
* ``data['user', b, 'item'].edge_index`` (0-based ids) and the reverse
  ``data['item', f'rev_{b}', 'user'].edge_index`` for every behavior ``b``
* ``data['user', 'buy', 'item'].val_edge_label_index`` and
  ``.test_edge_label_index``: the held-out target pairs
* ``data.behaviors`` (list, target included) and ``data.target``
"""
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from rmbrec_pyg.data.errors import DatasetFormatError
from rmbrec_pyg.utils.keys import pair_keys

ArrayLike = Union[np.ndarray, Tensor]
EdgeType = tuple


def edge_type(behavior: str) -> EdgeType:
    r"""The edge type of a behavior: :obj:`('user', behavior, 'item')`."""
    return ('user', behavior, 'item')


def rev_edge_type(behavior: str) -> EdgeType:
    r"""The reverse edge type, named as :class:`~torch_geometric.transforms.
    ToUndirected` does: :obj:`('item', f'rev_{behavior}', 'user')`."""
    return ('item', f'rev_{behavior}', 'user')


def _as_long(x: ArrayLike) -> Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    return t.to(torch.long).reshape(2, -1).contiguous()


def build_hetero_data(num_users: int, num_items: int,
                      edges: Mapping[str, ArrayLike], target: str,
                      val: Optional[ArrayLike] = None,
                      test: Optional[ArrayLike] = None,
                      behaviors: Optional[Sequence[str]] = None,
                      source: str = '<memory>') -> HeteroData:
    r"""Assembles a multi-behavior :class:`HeteroData`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        edges (Mapping[str, array]): :obj:`[2, E]` 0-based ``(user, item)``
            pairs per behavior, the target's training pairs included.
        target (str): The target behavior, one of :obj:`edges`.
        val (array, optional): :obj:`[2, N]` held-out validation pairs.
        test (array, optional): :obj:`[2, N]` held-out test pairs.
        behaviors (Sequence[str], optional): Behavior order. Defaults to the
            auxiliary behaviors in the order of :obj:`edges`, then the target.
        source (str): Where the data came from, used in messages.
    """
    if target not in edges:
        raise DatasetFormatError(
            source, f"target behavior '{target}' not found among the "
            f'behaviors {sorted(edges)}')
    if behaviors is None:
        behaviors = [b for b in edges if b != target] + [target]
    behaviors = list(behaviors)
    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    for b in behaviors:
        index = _as_long(edges[b])
        data[edge_type(b)].edge_index = index
        data[rev_edge_type(b)].edge_index = index.flip([0])
    train_keys = pair_keys(data[edge_type(target)].edge_index, num_items)
    for name, split in (('val', val), ('test', test)):
        if split is None:
            continue
        index = _as_long(split)
        if index.numel() > 0:
            if (index[0].min() < 0 or index[0].max() >= num_users
                    or index[1].min() < 0 or index[1].max() >= num_items):
                raise DatasetFormatError(
                    source, f'{name} pairs out of range: expected users '
                    f'0..{num_users - 1} and items 0..{num_items - 1}')
            overlap = int(torch.isin(pair_keys(index, num_items),
                                     train_keys).sum())
            if overlap > 0:
                warnings.warn(
                    f"{source}: {overlap} {name} pair(s) also appear in the "
                    f"training target '{target}'; they are masked out of the "
                    f'ranking like all training items', stacklevel=2)
        data[edge_type(target)][f'{name}_edge_label_index'] = index
    data.behaviors = behaviors
    data.target = target
    return data


def behaviors_of(data: HeteroData) -> List[str]:
    r"""The behaviors of a multi-behavior :class:`HeteroData`, target last
    unless given otherwise."""
    return list(data.behaviors)


def target_of(data: HeteroData) -> str:
    return str(data.target)


def edge_index_dict_of(data: HeteroData) -> Dict[str, Tensor]:
    r"""Maps every behavior to its :obj:`[2, E]` ``(user, item)`` index."""
    return {b: data[edge_type(b)].edge_index for b in behaviors_of(data)}
