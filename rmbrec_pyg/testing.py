r"""Helpers for tests: tiny datasets and dataset folders, no downloads."""
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

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


def rmbrec_batch(data: HeteroData, num_layers: int = 3,
                 combination: str = 'normalized_sum', batch: int = 64
                 ) -> Tuple[Any, Dict[str, Any], Any, Tuple[Any, ...]]:
    r"""A 16-d RMBRec encoder (seeded) on :obj:`data`, its adjacency, an
    objective with RRM and ORM, and one batch of triples:
    :obj:`(encoder, adj, objective, (users, pos, neg, mask))`."""
    import torch

    from rmbrec_pyg.graph.sampling import BehaviorSampler
    from rmbrec_pyg.nn import MultiBehaviorEncoder
    from rmbrec_pyg.objective import Objective
    from rmbrec_pyg.regularizers import ORM, RRM
    behaviors = list(data.behaviors)
    nu, ni = data['user'].num_nodes, data['item'].num_nodes
    edges = {b: data['user', b, 'item'].edge_index for b in behaviors}
    torch.manual_seed(0)
    enc = MultiBehaviorEncoder(nu, ni, behaviors, 16, num_layers,
                               combination)
    adj = enc.build_adjacency(edges, nu, ni)
    obj = Objective(behaviors, str(data.target),
                    {'rrm': RRM(0.5), 'orm': ORM(0.5)})
    triples = BehaviorSampler(edges, nu, ni, 'all',
                              torch.Generator().manual_seed(0))
    users = torch.randperm(nu)[:batch]
    return enc, adj, obj, (users, *triples.sample(users))


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


# A small sharded-table run (trainer.tables=sharded): 3 Adagrad epochs of
# the plain model on 400 users, for the 1-rank against 2-rank check.
SHARDED_ARGS = ['data.num_users=400', 'data.num_items=250',
                'trainer.max_epochs=3', 'trainer.batch_size=128',
                'encoder.embedding_dim=16', 'trainer.progress=false',
                'trainer.seed=3', 'ablation=plain',
                'trainer.propagation=sampled', 'trainer.tables=sharded',
                'trainer.table_lr=0.05']


def free_port() -> int:
    r"""A free local TCP port (for a process group's rendezvous)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun_train(world: int, run_dir: str, args: Sequence[str] = (),
                   timeout: float = 300) -> subprocess.CompletedProcess:
    r"""``rmbrec-train`` under ``torchrun`` with :obj:`world` CPU ranks
    (gloo, one thread each) on a free local port."""
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={world}', '--master_addr=127.0.0.1',
           f'--master_port={free_port()}', '-m', 'rmbrec_pyg.cli.train', *args,
           f'hydra.run.dir={run_dir}']
    return subprocess.run(cmd, cwd=osp.dirname(osp.abspath(run_dir)),
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def sharded_ranks_difference(root: str, worlds: Sequence[int] = (1, 2)
                             ) -> float:
    r"""Trains :data:`SHARDED_ARGS` with each world size under
    :obj:`root` and returns the largest difference between their final
    tables (``last.pt``); raises :class:`RuntimeError` if a run fails."""
    from rmbrec_pyg.train.checkpoint import load_checkpoint
    tables = []
    for world in worlds:
        run_dir = osp.join(root, f'world{world}')
        res = torchrun_train(world, run_dir, SHARDED_ARGS)
        if res.returncode != 0:
            raise RuntimeError(f'{world} ranks failed:\n'
                               f'{res.stdout[-2000:]}{res.stderr[-4000:]}')
        state = load_checkpoint(osp.join(run_dir, 'last.pt'))['encoder']
        tables.append([state['user_embedding.weight'],
                       state['item_embedding.weight']])
    return max(float((a - b).abs().max()) for other in tables[1:]
               for a, b in zip(tables[0], other))
