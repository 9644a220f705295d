r"""Sharded embedding tables (``trainer.tables=sharded``): the user and item
tables live in one torchrec :class:`~torchrec.EmbeddingCollection` under
:class:`~torchrec.distributed.DistributedModelParallel`, split row-wise
across the ranks of ``torchrun``, with a fused optimizer that updates the
looked-up rows inside the backward.

Training runs sampled propagation (:mod:`rmbrec_pyg.graph.neighborhood`):
each rank samples its share of the batch's neighbourhoods from the graph in
its own host memory, looks the neighbourhood's base rows up in the sharded
tables (an all-to-all to the ranks that own them), and propagates them
locally. The backward sends each row's gradient back to its owner, which
sums the ranks' gradients; they are scaled by :math:`1 / \text{ranks}`, so
that the update is the mean over the shares, as under DDP. After every
epoch rank 0 pulls the whole tables into its encoder (:func:`pull_tables`)
to evaluate (one full propagation, as always) and write checkpoints, which
also hold the fused optimizer's state gathered from the shards
(:func:`gather_optimizer_state`); a resume puts both back (:func:`restore`).

torchrec is an optional extra (``make install-dist``, see the README's
"Scaling out"). fbgemm's CPU kernels have no fused Adam, so on CPU the
default table optimizer is Adagrad; only ``'adam'`` takes
``optim.weight_decay``.
"""
import contextlib
import logging
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module

from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.nn.gather import node_rows
from rmbrec_pyg.train.config import TrainerConfig

FEATURES = ('user', 'item')


def available() -> bool:
    r"""Whether torchrec (with fbgemm) can be imported (quietly)."""
    try:
        with _quiet():
            import torchrec  # noqa: F401
            import torchrec.distributed  # noqa: F401
        return True
    except Exception:  # ImportError, or a broken fbgemm build
        return False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # fbgemm and torchrec warn about their own deprecations and log every
    # library they load and every kernel's arguments on the root logger;
    # torchrec's planner warns about its own defaults.
    loggers = {logging.getLogger(): logging.WARNING,
               logging.getLogger('torchrec'): logging.ERROR}
    levels = {lg: lg.level for lg in loggers}
    for lg, at_least in loggers.items():
        lg.setLevel(max(lg.level, at_least))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        for lg, level in levels.items():
            lg.setLevel(level)


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Tensor, None]:
        return grad * ctx.scale, None


class ShardedTables(Module):
    r"""The user and item tables as one torchrec
    :class:`~torchrec.EmbeddingCollection` (tables ``user`` and ``item``),
    looked up by homogeneous node id (users :obj:`0..U-1`, then items).

    Args:
        num_users (int): Rows of the user table.
        num_items (int): Rows of the item table.
        embedding_dim (int): Columns of both.
        grad_scale (float): Factor on the gradients sent to the tables.
    """
    def __init__(self, num_users: int, num_items: int, embedding_dim: int,
                 grad_scale: float = 1.0) -> None:
        super().__init__()
        from torchrec import EmbeddingCollection, EmbeddingConfig
        self.num_users, self.num_items = num_users, num_items
        self.grad_scale = grad_scale
        self.tables = EmbeddingCollection(
            tables=[EmbeddingConfig(name=f, feature_names=[f],
                                    embedding_dim=embedding_dim,
                                    num_embeddings=n)
                    for f, n in zip(FEATURES, (num_users, num_items))],
            device=torch.device('meta'))

    def lookup(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        r"""The rows of :obj:`users` and of :obj:`items` (table ids)."""
        from torchrec import KeyedJaggedTensor
        kjt = KeyedJaggedTensor.from_lengths_sync(
            keys=list(FEATURES), values=torch.cat([users, items]),
            lengths=torch.tensor([users.numel(), items.numel()],
                                 device=users.device))
        out = self.tables(kjt)
        return out['user'].values(), out['item'].values()

    def forward(self, nodes: Tensor) -> Tensor:
        out = node_rows(nodes, self.num_users, self.lookup)
        if self.training and self.grad_scale != 1.0:
            out = _ScaleGrad.apply(out, self.grad_scale)
        return out


class ShardedEncoder(Module):
    r"""What a sharded run trains: :class:`ShardedTables`, with the
    encoder's sampled propagation over the rows they return. Attributes
    that the objective reads (:obj:`fusion`, :meth:`fuse`, ...) are the
    encoder's; the encoder itself is not a submodule, so that its own
    (replicated) tables stay out of the sharded model."""
    def __init__(self, encoder: Module, tables: ShardedTables) -> None:
        super().__init__()
        self.rows = tables
        object.__setattr__(self, 'encoder', encoder)

    def forward(self, sampler: Any, user_index: Tensor,
                item_index: Tensor) -> Tuple[Tensor, Tensor]:
        return self.encoder._sampled_rows(sampler, user_index, item_index,
                                          base_rows=self.rows)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__['encoder'], name)


def check_supported(trainer: Any) -> None:
    r"""Refuses what sharded training does not support yet (one line)."""
    from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
    from rmbrec_pyg.train import distributed
    enc, obj = trainer.encoder, trainer.objective
    if not available():
        raise ConfigError("'trainer.tables=sharded' needs torchrec: make "
                          'install-dist (see the README, "Scaling out")')
    if not distributed.in_group():
        raise ConfigError("'trainer.tables=sharded' runs under torchrun "
                          '(one process too: torchrun --nproc_per_node=1)')
    if not isinstance(enc, MultiBehaviorEncoder) or \
            enc.fusion is not None or enc.target_tower is not None:
        raise ConfigError("'trainer.tables=sharded' supports RMBRec's plain "
                          'encoder for now (no fusion, floor or baseline)')
    if any(p.requires_grad for p in obj.parameters()) or \
            getattr(obj, 'emb_reg_on', 'propagated') == 'base' or \
            getattr(obj, 'needs_double_backward', False):
        raise ConfigError("'trainer.tables=sharded' does not support "
                          "loss.emb_reg_on=base, ORM mode 'irm_v2' or "
                          'learned regularizers yet')


def _optimizer(cfg: TrainerConfig, lr: float, weight_decay: float,
               device: torch.device) -> Tuple[type, Dict[str, Any]]:
    import torchrec.optim as trec_optim
    name = cfg.table_optimizer
    if name == 'auto':
        name = 'adam' if device.type == 'cuda' else 'adagrad'
    if name == 'adam' and device.type != 'cuda':
        raise ConfigError("'trainer.table_optimizer=adam' needs CUDA: "
                          "fbgemm's CPU kernels have no fused Adam (use "
                          "'adagrad', 'rowwise_adagrad' or 'sgd')")
    lr = cfg.table_lr or lr
    return {'adam': (torch.optim.Adam, {'lr': lr,
                                        'weight_decay': weight_decay}),
            'adagrad': (torch.optim.Adagrad, {'lr': lr, 'eps': 1e-8}),
            'rowwise_adagrad': (trec_optim.RowWiseAdagrad,
                                {'lr': lr, 'eps': 1e-8}),
            'sgd': (torch.optim.SGD, {'lr': lr})}[name]


def wrap(trainer: Any) -> Tuple[Module, Any]:
    r"""The trainer's encoder with sharded tables, under
    :class:`~torchrec.distributed.DistributedModelParallel`, and its fused
    optimizer (stepped inside the backward: its :meth:`step` does nothing).
    The shards start from the encoder's own tables, so a run's start does
    not depend on the number of ranks."""
    check_supported(trainer)
    with _quiet():
        return _wrap(trainer)


def _wrap(trainer: Any) -> Tuple[Module, Any]:
    import torch.distributed as dist
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embedding import EmbeddingCollectionSharder
    from torchrec.distributed.embedding_types import EmbeddingComputeKernel
    from torchrec.distributed.planner import (EmbeddingShardingPlanner,
                                              ParameterConstraints, Topology)
    from torchrec.distributed.types import ShardingType
    from torchrec.optim.apply_optimizer_in_backward import \
        apply_optimizer_in_backward

    enc, device = trainer.encoder, trainer.device
    world = dist.get_world_size()
    tables = ShardedTables(enc.num_users, enc.num_items,
                           enc.user_embedding.embedding_dim, 1.0 / world)
    cls, kwargs = _optimizer(trainer.config, trainer.optim_config.lr,
                             trainer.optim_config.weight_decay, device)
    apply_optimizer_in_backward(cls, tables.parameters(), kwargs)
    sharder = EmbeddingCollectionSharder()
    constraints = {f: ParameterConstraints(
        sharding_types=[ShardingType.ROW_WISE.value],
        compute_kernels=[EmbeddingComputeKernel.FUSED.value])
        for f in FEATURES}
    planner = EmbeddingShardingPlanner(
        topology=Topology(world_size=world, compute_device=device.type),
        constraints=constraints)
    module = ShardedEncoder(enc, tables)
    # planned on the module that is sharded: the plan is keyed by path
    plan = planner.collective_plan(module, [sharder], dist.GroupMember.WORLD)
    if 'rows.tables' not in plan.plan:  # else DMP would replicate them
        raise RuntimeError(f'torchrec planned no sharding of the tables: '
                           f'{plan}')
    model = DistributedModelParallel(module, device=device, plan=plan,
                                     sharders=[sharder])
    push_tables(model, enc)
    return model, model.fused_optimizer


def _shards(model: Module) -> Any:
    # (table name, local shard tensor, first row) of this rank's shards.
    # One rank holds its whole tables as plain tensors (views).
    for key, value in model.state_dict().items():
        name = key.split('.')[-2]
        if not hasattr(value, 'local_shards'):
            yield name, value, 0
            continue
        for shard in value.local_shards():
            yield name, shard.tensor, shard.metadata.shard_offsets[0]


@torch.no_grad()
def push_tables(model: Module, encoder: Module) -> None:
    r"""Copies the encoder's tables into this rank's shards."""
    full = {'user': encoder.user_embedding.weight,
            'item': encoder.item_embedding.weight}
    for name, local, start in _shards(model):
        local.copy_(full[name][start:start + local.size(0)])


@torch.no_grad()
def pull_tables(model: Module, encoder: Module) -> None:
    r"""Copies the whole sharded tables into rank 0's encoder, which
    evaluates and writes checkpoints (every rank must call it: a collective
    lookup, of every row on rank 0 and of none elsewhere)."""
    import torch.distributed as dist
    rows: ShardedTables = getattr(model, 'module', model).rows
    was = rows.training
    rows.eval()
    dev = encoder.user_embedding.weight.device
    n = (rows.num_users, rows.num_items) if dist.get_rank() == 0 else (0, 0)
    u, i = rows.lookup(torch.arange(n[0], device=dev),
                       torch.arange(n[1], device=dev))
    rows.train(was)
    if dist.get_rank() == 0:
        encoder.user_embedding.weight.copy_(u)
        encoder.item_embedding.weight.copy_(i)


def gather_optimizer_state(optimizer: Any) -> Optional[Dict[str, Tensor]]:
    r"""The fused optimizer's whole state (e.g. Adagrad's ``momentum1`` of
    every row), assembled on rank 0 from every rank's shards for
    ``last.pt`` (:obj:`None` on the other ranks; every rank must call
    it)."""
    import torch.distributed as dist
    local: Dict[str, Any] = {}
    for states in optimizer.state_dict()['state'].values():
        for name, st in states.items():
            local[name] = (tuple(st.size()), [
                (s.metadata.shard_offsets[0], s.tensor.detach().cpu().clone())
                for s in st.local_shards()])
    every: Optional[List[Any]] = [None] * dist.get_world_size() \
        if dist.get_rank() == 0 else None
    dist.gather_object(local, every, dst=0)
    if every is None:
        return None
    full: Dict[str, Tensor] = {}
    for name, (size, _) in local.items():
        full[name] = torch.zeros(size)
        for rank_state in every:
            for start, rows in rank_state[name][1]:
                full[name][start:start + rows.size(0)] = rows
    return full


@torch.no_grad()
def restore(trainer: Any, optimizer_state: Optional[Dict[str, Tensor]]
            ) -> None:
    r"""A resume: the encoder's tables (just loaded from ``last.pt``) go
    back into this rank's shards, and the rows of the fused optimizer's
    state that this rank holds back into its state."""
    push_tables(trainer.model, trainer.encoder)
    if optimizer_state is None:
        raise ConfigError("last.pt holds no state of the sharded tables' "
                          'fused optimizer; it was not written by '
                          "'trainer.tables=sharded'")
    for states in trainer.optimizer.state_dict()['state'].values():
        for name, st in states.items():
            if name not in optimizer_state:
                raise ConfigError(f'last.pt holds no {name!r} of the fused '
                                  'optimizer (another trainer.table_'
                                  'optimizer?)')
            for s in st.local_shards():
                start = s.metadata.shard_offsets[0]
                s.tensor.copy_(optimizer_state[name][
                    start:start + s.tensor.size(0)])
