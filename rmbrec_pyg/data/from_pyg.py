r"""Reading PyG's behavior-attributed graphs: one user-item edge type whose
edges carry the behavior as an attribute (as
:class:`torch_geometric.datasets.Taobao` stores the Tianchi log) become the
multi-behavior layout of this package, one edge type per behavior, with the
target split leave-one-out by time."""
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np
from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from rmbrec_pyg.data.dataset import BaseMultiBehaviorDataset
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.hetero import build_hetero_data
from rmbrec_pyg.data.split import earliest_events, leave_one_out

#: The behavior codes of :class:`torch_geometric.datasets.Taobao`.
PYG_TAOBAO_BEHAVIORS = {0: 'view', 1: 'cart', 2: 'buy', 3: 'collect'}


class BehaviorEdgesToTypes(BaseTransform):
    r"""Turns a :class:`~torch_geometric.data.HeteroData` whose user-item
    edges carry a behavior attribute into this package's multi-behavior
    layout (see :func:`~rmbrec_pyg.data.build_hetero_data`): one edge type
    :obj:`('user', b, 'item')` per behavior, the earliest event of every
    (user, item, behavior) kept, and the target behavior split
    leave-one-out by time (every user's last target event is test, the
    second last validation; users with fewer than :obj:`min_target` keep
    them all in training). Other node and edge types are dropped.

    Args:
        edge_type (Tuple[str, str, str]): The user-item edge type.
            (default: :obj:`('user', 'to', 'item')`, PyG's Taobao)
        behavior_attr (str): The edge attribute holding the behavior code.
            (default: :obj:`'behavior'`)
        time_attr (str): The edge attribute holding the time.
            (default: :obj:`'time'`)
        names (Mapping[int, str]): Behavior code -> name; codes not listed
            are dropped. (default: :obj:`PYG_TAOBAO_BEHAVIORS`)
        target (str): The target behavior. (default: :obj:`'buy'`)
        min_target (int): Target events a user needs to be held out.
            (default: :obj:`3`)
    """
    def __init__(self, edge_type: Tuple[str, str, str] = ('user', 'to',
                                                          'item'),
                 behavior_attr: str = 'behavior', time_attr: str = 'time',
                 names: Optional[Mapping[int, str]] = None,
                 target: str = 'buy', min_target: int = 3) -> None:
        self.edge_type = tuple(edge_type)
        self.behavior_attr = behavior_attr
        self.time_attr = time_attr
        self.names = dict(names or PYG_TAOBAO_BEHAVIORS)
        self.target = target
        self.min_target = min_target
        if target not in self.names.values():
            raise ConfigError(f"target '{target}' is not among the behavior "
                              f'names {sorted(self.names.values())} of '
                              f"'{self.__class__.__name__}'")

    def forward(self, data: HeteroData) -> HeteroData:
        src, _, dst = self.edge_type
        store = data[self.edge_type]
        for attr in ('edge_index', self.behavior_attr, self.time_attr):
            if attr not in store:
                raise ConfigError(f"'{self.__class__.__name__}': the edge "
                                  f'type {self.edge_type} has no '
                                  f"'{attr}' (it has {list(store.keys())})")
        nu, ni = int(data[src].num_nodes), int(data[dst].num_nodes)
        user, item = (t.cpu().numpy().astype(np.int64)
                      for t in store.edge_index)
        code = store[self.behavior_attr].cpu().numpy().astype(np.int64)
        time = store[self.time_attr].cpu().numpy().astype(np.int64)
        keep = np.isin(code, list(self.names))
        key = (code[keep] * nu + user[keep]) * ni + item[keep]
        key, time, _ = earliest_events(key, time[keep])
        code, rest = np.divmod(key, nu * ni)
        user, item = np.divmod(rest, ni)
        edges: Dict[str, np.ndarray] = {}
        val = test = None
        for c, name in self.names.items():
            sel = code == c
            if name == self.target:
                edges[name], val, test, _, _ = leave_one_out(
                    user[sel], item[sel], time[sel], nu, self.min_target)
            elif sel.any():
                edges[name] = np.stack([user[sel], item[sel]])
        aux = sorted(b for b in edges if b != self.target)
        return build_hetero_data(nu, ni, edges, self.target, val=val,
                                 test=test, behaviors=aux + [self.target],
                                 source=f'{self.__class__.__name__}')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.edge_type}, '
                f"target='{self.target}')")


class PyGTaobao(BaseMultiBehaviorDataset):
    r"""PyG's :class:`torch_geometric.datasets.Taobao` (the Tianchi
    ``UserBehavior.csv``; downloaded into :obj:`root` unless
    ``root/raw/UserBehavior.csv`` is there, processing needs pandas) in the
    multi-behavior layout of :class:`BehaviorEdgesToTypes`: behaviors view,
    cart, collect and buy.

    Args:
        root (str): PyG's dataset folder.
        target (str): The target behavior. (default: :obj:`'buy'`)
        min_target (int): Target events a user needs to be held out.
            (default: :obj:`3`)
        behaviors (list, optional): Keep only these behaviors.
        transform (callable, optional): Applied on every access.
    """
    def __init__(self, root: str, target: str = 'buy', min_target: int = 3,
                 behaviors: Optional[list] = None,
                 transform: Optional[Callable] = None) -> None:
        from torch_geometric.datasets import Taobao
        super().__init__(None, transform)
        self.folder = str(root)
        names: Any = PYG_TAOBAO_BEHAVIORS
        if behaviors is not None:
            names = {c: b for c, b in names.items() if b in behaviors}
        raw = Taobao(self.folder)[0]
        self.set_graph(BehaviorEdgesToTypes(names=names, target=target,
                                            min_target=min_target)(raw))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.folder!r}, '
                f'users={self.num_users}, items={self.num_items}, '
                f'behaviors={self.behaviors})')
