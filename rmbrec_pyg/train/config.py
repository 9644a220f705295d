r"""Plain settings of the training loop, as dataclasses. The CLI registers
them with Hydra's ConfigStore so that a wrong type fails at composition."""
from dataclasses import dataclass, field
from typing import Dict, Optional

from rmbrec_pyg.data.errors import ConfigError

# The fused optimizers of sharded tables (trainer.table_optimizer).
TABLE_OPTIMIZERS = ('auto', 'adam', 'adagrad', 'rowwise_adagrad', 'sgd')
# Who draws the neighbourhoods of sampled propagation
# (trainer.neighbor_sampler; rmbrec_pyg.graph.neighborhood).
NEIGHBOR_SAMPLERS = ('auto', 'torch', 'pyg')


@dataclass
class TrainerConfig:
    r"""Settings of :class:`~rmbrec_pyg.train.Trainer`.

    Attributes:
        max_epochs: Upper bound on epochs.
        patience: Stop when the monitored validation metric has not improved
            for more than this many epochs (the authors' rule).
        batch_size: Users per mini-batch (every user, once per epoch).
        steps_per_epoch: With a positive value, the epoch has this many
            steps and :obj:`batch_size` becomes ``ceil(users / steps)``: a
            fixed number of whole-graph propagations per epoch, whatever
            the number of users (``0``: off).
        monitor: Validation metric for early stopping and model selection,
            one of the evaluation's (``eval.metrics`` at ``eval.ks``),
            under the evaluation's protocol.
        eval_every: Evaluate every this many epochs.
        device: ``'auto'`` (CUDA when present), ``'cpu'``, ``'cuda'``, ...
        seed: Seed of initialisation and sampling.
        num_threads: CPU threads for torch (0 leaves torch's default).
        resume: Continue from ``last.pt`` in the run directory.
        overwrite: Replace the run a run directory already holds (without
            it, or :obj:`resume`, a new run into such a directory is
            refused; see :mod:`rmbrec_pyg.cli.run_dir`).
        checkpoint: Write ``last.pt`` every epoch and ``best.pt``.
        progress: Show a progress bar over the batches.
        negatives: ``'all'`` (negatives outside all of the user's items) or
            ``'behavior'`` (outside that behavior).
        retain_freed_memory: On CPU with glibc, keep freed memory in the
            process for reuse instead of page-faulting it back every step
            (see :mod:`rmbrec_pyg.train.allocator`).
        sampler: Where triples are drawn: ``'host'`` (CPU rejection
            sampling, the authors' way), ``'device'`` (on the training
            device, exact, without host syncs) or ``'auto'`` (device on
            CUDA, host on CPU). Same distribution, other random streams.
        compile: ``'auto'`` (full-size steps captured and replayed as a
            CUDA graph on CUDA when possible), ``'graph'`` (the same,
            required) or ``'off'`` (eager). See
            :mod:`rmbrec_pyg.train.step`.
        pretrain_patience: Early stopping of a model's pre-training (see
            :func:`~rmbrec_pyg.train.pretrain.pretrain_embeddings`), in
            epochs, on the same validation metric.
        pretrain_eval_every: Validate the pre-training every this many
            epochs.
        propagation: ``'full'`` (every step propagates every behavior's
            whole graph, the paper and the authors' code) or ``'sampled'``
            (every step propagates only the :math:`L`-hop neighbourhood of
            the batch's users and items; see
            :mod:`rmbrec_pyg.graph.neighborhood`). Evaluation always
            propagates the whole graph.
        fanout: With ``'sampled'``, neighbours kept per node and hop in
            every behavior; ``-1`` keeps them all (then equal to
            ``'full'``).
        fanouts: Per-behavior fanouts that replace :obj:`fanout`, e.g.
            ``{view: 10}``.
        neighbor_sampler: With ``'sampled'``, who draws the
            neighbourhoods: ``'torch'`` (the pure-torch sampler, on the
            graph's device, with its own random stream), ``'pyg'`` (PyG's
            :class:`~torch_geometric.sampler.NeighborSampler`, which needs
            ``pyg-lib`` or ``torch_sparse``; on the CPU, from torch's
            global stream, distinct neighbours) or ``'auto'`` (PyG's where
            ``pyg-lib`` is importable and training runs on the CPU, the
            pure-torch one otherwise). Other draws, the same
            sub-adjacency; both exact with every neighbour.
        tables: ``'replicated'`` (every rank holds the whole user and item
            tables) or ``'sharded'`` (under ``torchrun``, with
            :obj:`propagation='sampled'`: the tables are split row-wise
            across ranks by torchrec, see :mod:`rmbrec_pyg.train.sharded`).
        table_optimizer: The optimizer of the user and item tables. Sharded
            tables: torchrec's fused optimizer, ``'auto'`` (``'adam'`` on
            CUDA; ``'adagrad'`` on CPU, where fbgemm has no fused Adam),
            ``'adam'``, ``'adagrad'``, ``'rowwise_adagrad'`` or ``'sgd'``.
            Replicated tables: ``'auto'`` keeps them in the run's Adam
            (dense gradients); with :obj:`propagation='sampled'`,
            ``'adam'``, ``'adagrad'`` or ``'sgd'`` give them their own
            optimizer over sparse gradients, which updates only the
            looked-up rows (see :mod:`rmbrec_pyg.train.sparse_tables`).
        table_lr: Its learning rate (default: ``optim.lr``).
    """
    max_epochs: int = 200
    patience: int = 20
    batch_size: int = 1024
    steps_per_epoch: int = 0
    monitor: str = 'HR@10'
    eval_every: int = 1
    device: str = 'auto'
    seed: int = 2026
    num_threads: int = 0
    resume: bool = False
    overwrite: bool = False
    checkpoint: bool = True
    progress: bool = True
    negatives: str = 'all'
    retain_freed_memory: bool = True
    sampler: str = 'auto'
    compile: str = 'auto'
    pretrain_patience: int = 100
    pretrain_eval_every: int = 5
    propagation: str = 'full'
    fanout: int = -1
    fanouts: Dict[str, int] = field(default_factory=dict)
    neighbor_sampler: str = 'auto'
    tables: str = 'replicated'
    table_optimizer: str = 'auto'
    table_lr: Optional[float] = None

    def validate(self) -> None:
        name = 'trainer'
        if self.tables not in ('replicated', 'sharded'):
            raise ConfigError(f"'{name}.tables' must be 'replicated' or "
                              f"'sharded' (got {self.tables!r})")
        if self.tables == 'sharded' and self.propagation != 'sampled':
            raise ConfigError(f"'{name}.tables=sharded' needs "
                              f"'{name}.propagation=sampled': full "
                              'propagation reads every row on every rank')
        if self.table_optimizer not in TABLE_OPTIMIZERS:
            raise ConfigError(f"'{name}.table_optimizer' must be one of "
                              f'{TABLE_OPTIMIZERS} (got '
                              f'{self.table_optimizer!r})')
        if self.tables == 'replicated' and self.table_optimizer != 'auto':
            if self.propagation != 'sampled':
                raise ConfigError(
                    f"'{name}.table_optimizer={self.table_optimizer}' with "
                    f"replicated tables needs '{name}.propagation=sampled' "
                    '(full propagation has a gradient for every row)')
            if self.table_optimizer == 'rowwise_adagrad':
                raise ConfigError(
                    f"'{name}.table_optimizer=rowwise_adagrad' needs "
                    f"'{name}.tables=sharded' (replicated tables: 'adam', "
                    "'adagrad' or 'sgd')")
        if self.table_lr is not None and not self.table_lr > 0:
            raise ConfigError(f"'{name}.table_lr' must be positive (got "
                              f'{self.table_lr})')
        if self.neighbor_sampler not in NEIGHBOR_SAMPLERS:
            raise ConfigError(f"'{name}.neighbor_sampler' must be one of "
                              f'{NEIGHBOR_SAMPLERS} (got '
                              f'{self.neighbor_sampler!r})')
        if self.propagation not in ('full', 'sampled'):
            raise ConfigError(f"'{name}.propagation' must be 'full' or "
                              f"'sampled' (got {self.propagation!r})")
        for key, value in {'fanout': self.fanout, **{
                f'fanouts.{b}': f for b, f in self.fanouts.items()}}.items():
            if value == 0 or value < -1:
                raise ConfigError(f"'{name}.{key}' must be -1 (every "
                                  f'neighbour) or positive (got {value})')
        if self.pretrain_patience < 0 or self.pretrain_eval_every <= 0:
            raise ConfigError(f"'{name}.pretrain_patience' must be >= 0 and "
                              f"'{name}.pretrain_eval_every' positive (got "
                              f'{self.pretrain_patience}, '
                              f'{self.pretrain_eval_every})')
        if self.max_epochs < 1:
            raise ConfigError(f"'{name}.max_epochs' must be >= 1: a run "
                              'with no epoch selects no model (got '
                              f'{self.max_epochs})')
        if self.steps_per_epoch < 0:
            raise ConfigError(f"'{name}.steps_per_epoch' must be >= 0 (0: "
                              f"'{name}.batch_size' decides; got "
                              f'{self.steps_per_epoch})')
        if self.batch_size <= 0:
            raise ConfigError(f"'{name}.batch_size' must be positive "
                              f'(got {self.batch_size})')
        if self.patience < 0 or self.eval_every <= 0:
            raise ConfigError(f"'{name}.patience' must be >= 0 and "
                              f"'{name}.eval_every' positive (got "
                              f'{self.patience}, {self.eval_every})')
        if self.negatives not in ('all', 'behavior'):
            raise ConfigError(f"'{name}.negatives' must be 'all' or "
                              f"'behavior' (got {self.negatives!r})")
        if self.sampler not in ('auto', 'host', 'device'):
            raise ConfigError(f"'{name}.sampler' must be 'auto', 'host' or "
                              f"'device' (got {self.sampler!r})")
        if self.compile not in ('auto', 'graph', 'off'):
            raise ConfigError(f"'{name}.compile' must be 'auto', 'graph' or "
                              f"'off' (got {self.compile!r})")


@dataclass
class LossConfig:
    r"""How the loss terms are formed.

    Attributes:
        missing: Users without a behavior in a batch: ``'mask'`` (left out
            of that behavior's mean, the paper) or ``'filler'`` (the authors'
            ``[0, 0, 0]`` rows, which add :math:`\log 2` to the mean).
        emb_reg: Weight of the embedding L2 term.
        emb_reg_on: ``'propagated'`` (authors' code: the propagated batch
            embeddings of every behavior), ``'base'`` (the base embeddings
            of the batch, LightGCN style) or ``'none'``.
        behavior_loss_weight: Weight of the sum of per-behavior BPR losses in
            the objective. The paper (Eq. 10) and the authors' code use them
            only inside ORM, i.e. 0.
    """
    missing: str = 'filler'
    emb_reg: float = 1e-3
    emb_reg_on: str = 'propagated'
    behavior_loss_weight: float = 0.0

    def validate(self) -> None:
        from rmbrec_pyg.loss import MISSING_MODES  # torch: import on use
        from rmbrec_pyg.objective import EMB_REG_ON
        if self.missing not in MISSING_MODES:
            raise ConfigError(f"'loss.missing' must be one of "
                              f'{MISSING_MODES} (got {self.missing!r})')
        if self.emb_reg_on not in EMB_REG_ON:
            raise ConfigError(f"'loss.emb_reg_on' must be one of "
                              f'{EMB_REG_ON} (got {self.emb_reg_on!r})')
        if self.emb_reg < 0 or self.behavior_loss_weight < 0:
            raise ConfigError(f"'loss.emb_reg' and "
                              f"'loss.behavior_loss_weight' must be >= 0 "
                              f'(got {self.emb_reg}, '
                              f'{self.behavior_loss_weight})')


@dataclass
class OptimConfig:
    r"""Adam settings (paper: lr 1e-3, weight decay 1e-3). ``fused`` uses
    PyTorch's fused Adam kernel (the same update, in fewer kernels)."""
    lr: float = 1e-3
    weight_decay: float = 1e-3
    fused: bool = True

    def validate(self) -> None:
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"'optim.lr' must be positive and "
                              f"'optim.weight_decay' >= 0 (got {self.lr}, "
                              f'{self.weight_decay})')
