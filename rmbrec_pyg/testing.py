r"""Helpers for tests: tiny datasets and dataset folders, no downloads."""
import json
import os
import os.path as osp
from typing import Dict, Iterable, Optional, Tuple

from torch_geometric.data import HeteroData

from rmbrec_pyg.data.synthetic import generate_multi_behavior

SHARED_DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                       '..', 'shared', 'data')


def shared_dataset(name: str) -> Optional[str]:
    r"""Path of a real dataset under ``../shared/data``, or :obj:`None`."""
    path = osp.abspath(osp.join(SHARED_DATA, name))
    return path if osp.isfile(osp.join(path, 'count.txt')) else None


def fake_multi_behavior(num_users: int = 60, num_items: int = 40,
                        seed: int = 0, **kwargs: object) -> HeteroData:
    r"""A tiny synthetic multi-behavior graph (behaviors view, cart, buy)."""
    kwargs.setdefault('target_per_user', 5.0)
    return generate_multi_behavior(num_users=num_users, num_items=num_items,
                                   seed=seed, **kwargs)  # type: ignore


def write_pairs(path: str, pairs: Iterable[Tuple[int, int]]) -> None:
    with open(path, 'w') as f:
        for u, i in pairs:
            f.write(f'{u} {i}\n')


def write_folder(root: str, num_users: int, num_items: int,
                 behaviors: Dict[str, Iterable[Tuple[int, int]]],
                 validation: Iterable[Tuple[int, int]] = (),
                 test: Iterable[Tuple[int, int]] = ()) -> str:
    r"""Writes a dataset folder in the paper's layout (1-based ids)."""
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'count.txt'), 'w') as f:
        json.dump({'user': num_users, 'item': num_items}, f)
    for b, pairs in behaviors.items():
        write_pairs(osp.join(root, f'{b}.txt'), pairs)
    write_pairs(osp.join(root, 'validation.txt'), validation)
    write_pairs(osp.join(root, 'test.txt'), test)
    return root
