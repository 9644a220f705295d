import os.path as osp
from typing import Callable, List, Optional, Sequence

import numpy as np

from torch_geometric.data import HeteroData, InMemoryDataset

from rmbrec_pyg.data.errors import DatasetFormatError
from rmbrec_pyg.data.hetero import build_hetero_data
from rmbrec_pyg.data.reader import (detect_behaviors, find_file, find_line,
                                    is_reserved, misnamed_splits, read_count,
                                    read_pairs)
from rmbrec_pyg.utils.keys import pair_keys


def load_folder(root: str, behaviors: Optional[Sequence[str]] = None,
                target: str = 'buy', allow_leak: bool = False,
                require_splits: bool = True) -> HeteroData:
    r"""Reads and validates a dataset folder into a :class:`HeteroData`
    (see :func:`~rmbrec_pyg.data.hetero.build_hetero_data` for the layout).

    Everything is checked before any training starts: ``count.txt``, each
    behavior file, ``validation.txt`` and ``test.txt``. Errors are
    :class:`~rmbrec_pyg.data.errors.DatasetFormatError` (a
    :class:`ValueError`) naming the file, the line and what was expected:
    a missing split (and a misnamed one beside it, e.g. ``valid.txt``),
    ids out of range, malformed lines, and held-out pairs that also sit in
    the target behavior's training file (a leak of the answers) unless
    :obj:`allow_leak`. Files with reserved names (``train*``, ``val*``,
    ``test*``, ``count*``) are never behaviors.

    Args:
        root (str): The folder.
        behaviors (Sequence[str], optional): The behaviors to load.
            (default: every behavior file)
        target (str): The target behavior. (default: :obj:`'buy'`)
        allow_leak (bool): Accept held-out pairs that are also training
            target pairs (they are masked out of the ranking, so they never
            count as hits). (default: :obj:`False`)
        require_splits (bool): Fail without ``validation.txt`` or
            ``test.txt``. (default: :obj:`True`)
    """
    root = str(root)
    num_users, num_items = read_count(root)
    if behaviors is None:
        behaviors = detect_behaviors(root)
        if not behaviors:
            raise DatasetFormatError(
                root, "no behavior files found; expected '<behavior>.txt' "
                "files (e.g. 'buy.txt', 'cart.txt') next to count.txt")
        if target in behaviors:  # target last, auxiliaries sorted
            behaviors = [b for b in behaviors if b != target] + [target]
    behaviors = list(behaviors)
    reserved = [b for b in behaviors if is_reserved(b)]
    if reserved:
        raise DatasetFormatError(root, f'{reserved} cannot be behaviors: '
                                 'names starting with train, val, test or '
                                 'count are reserved')
    if target not in behaviors:
        raise DatasetFormatError(
            osp.join(root, f'{target}.txt'),
            f"missing target behavior file; expected '{target}.txt' among "
            f'the behaviors {behaviors} (a folder prepared with another '
            'target? set data.target=NAME to it)')
    edges = {}
    for b in behaviors:
        path = find_file(root, b)
        if path is None:
            raise DatasetFormatError(
                osp.join(root, f'{b}.txt'),
                f"missing file for behavior '{b}'; expected lines "
                "'user item' with 1-based ids")
        edges[b] = read_pairs(path, num_users, num_items)
    splits = {}
    for name in ('validation', 'test'):
        path = find_file(root, name)
        if path is None and require_splits:
            misnamed = misnamed_splits(root)
            hint = (f"; found {', '.join(m + '.txt' for m in misnamed)}: "
                    f"rename the held-out {name} pairs to '{name}.txt'"
                    if misnamed else '')
            raise DatasetFormatError(
                osp.join(root, f'{name}.txt'),
                f"missing file; expected the held-out {name} target pairs "
                f"'user item' with 1-based ids{hint}")
        splits[name] = None if path is None else read_pairs(
            path, num_users, num_items)
        if path is not None and not allow_leak:
            _check_leak(path, splits[name], edges[target], num_items,
                        find_file(root, target) or target)
    if splits['validation'] is not None and splits['test'] is not None:
        _check_overlap(find_file(root, 'test') or 'test.txt',
                       splits['test'], splits['validation'], num_items)
    return build_hetero_data(num_users, num_items, edges, target,
                             val=splits['validation'],
                             test=splits['test'], behaviors=behaviors,
                             source=root)


def _check_overlap(path: str, test: np.ndarray, val: np.ndarray,
                   num_items: int) -> None:
    # Test pairs that are also validation pairs: the model would be
    # selected on the test set.
    same = np.isin(pair_keys(test, num_items), pair_keys(val, num_items))
    if not same.any():
        return
    u, i = (int(x) + 1 for x in test[:, int(np.argmax(same))])
    raise DatasetFormatError(
        path, f'{int(same.sum())} test pair(s) also in validation.txt, e.g. '
        f"'{u} {i}': the model would be selected on the test set (hold out "
        'different pairs for validation and test)', find_line(path, u, i))


def _check_leak(path: str, heldout: np.ndarray, train: np.ndarray,
                num_items: int, train_path: str) -> None:
    # Held-out target pairs that sit in the target's training file: the
    # answers leak into training.
    keys = pair_keys(heldout, num_items)
    leak = np.isin(keys, pair_keys(train, num_items))
    if not leak.any():
        return
    u, i = (int(x) + 1 for x in heldout[:, int(np.argmax(leak))])
    line = find_line(path, u, i)
    raise DatasetFormatError(
        path, f'{int(leak.sum())} held-out pair(s) also in the training '
        f"file {osp.basename(train_path)}, e.g. '{u} {i}': the answers leak "
        'into training (pass data.allow_leak=true to mask them out of the '
        'ranking instead)', line)


class BaseMultiBehaviorDataset(InMemoryDataset):
    r"""An in-memory dataset holding one multi-behavior :class:`HeteroData`
    (see :func:`~rmbrec_pyg.data.hetero.build_hetero_data`). Subclasses
    build the graph and call :meth:`set_graph`."""
    def set_graph(self, data: HeteroData) -> None:
        data.validate(raise_on_error=True)
        self._data = data
        self.slices = None
        self._graph = data

    def get(self, idx: int) -> HeteroData:  # type: ignore[override]
        return self._graph.clone()

    def len(self) -> int:
        return 1

    @property
    def behaviors(self) -> List[str]:
        return list(self._graph.behaviors)

    @property
    def target(self) -> str:
        return str(self._graph.target)

    @property
    def num_users(self) -> int:
        return int(self._graph['user'].num_nodes)

    @property
    def num_items(self) -> int:
        return int(self._graph['item'].num_nodes)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, behaviors={self.behaviors}, '
                f'target={self.target!r})')


class MultiBehaviorDataset(BaseMultiBehaviorDataset):
    r"""A multi-behavior recommendation dataset read from a folder in the
    layout of the RMBRec paper's releases (Taobao, TMall, Beibei):

    .. code-block:: none

        root/
          count.txt        {"user": 48749, "item": 39493}
          view.txt         user item   (1-based ids, one pair a line)
          cart.txt
          buy.txt          training part of the target behavior
          validation.txt   one held-out target pair per user
          test.txt         one held-out target pair per user

    Any file may be gzip-compressed (``.txt.gz``). The dataset holds one
    :class:`~torch_geometric.data.HeteroData` with node types ``'user'`` and
    ``'item'``, one edge type :obj:`('user', b, 'item')` per behavior (plus
    its reverse :obj:`('item', 'rev_b', 'user')`) and the held-out pairs as
    ``val_edge_label_index`` / ``test_edge_label_index`` on the target
    edge type.

    The folder is only read (it may be read-only); nothing is written.

    Args:
        root (str): The dataset folder.
        behaviors (List[str], optional): The behaviors to load. If
            :obj:`None`, every ``<name>.txt`` file whose name is not reserved
            (``count``, ``train*``, ``val*``, ``test*``) is a behavior.
            (default: :obj:`None`)
        target (str, optional): The target behavior. (default: :obj:`'buy'`)
        allow_leak (bool): Accept held-out pairs that are also training
            target pairs (see :func:`load_folder`). (default: :obj:`False`)
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied once after loading
            (e.g. :class:`~rmbrec_pyg.graph.PerturbAuxiliaryEdges`).
    """
    def __init__(self, root: str, behaviors: Optional[List[str]] = None,
                 target: str = 'buy', allow_leak: bool = False,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None) -> None:
        self.folder = str(root)
        super().__init__(None, transform)
        data = load_folder(self.folder, behaviors, target, allow_leak)
        if pre_transform is not None:
            data = pre_transform(data)
        self.set_graph(data)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.folder!r}, '
                f'users={self.num_users}, items={self.num_items}, '
                f'behaviors={self.behaviors}, target={self.target!r})')
