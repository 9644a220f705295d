r"""The RMBRec training loop: plain PyTorch, no Hydra."""
import math
import time
from dataclasses import asdict
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.hetero import edge_index_dict_of
from rmbrec_pyg.evaluation import SPLITS, EvalConfig, Evaluator
from rmbrec_pyg.evaluation.refind import Refind
from rmbrec_pyg.graph.neighborhood import (NeighborhoodSampler,
                                           resolve_neighbor_sampler)
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.nn.baselines.base import MultiBehaviorBaseline
from rmbrec_pyg.objective import ModelObjective, Objective
from rmbrec_pyg.regularizers.base import Regularizer
from rmbrec_pyg.train import distributed, sharded, sparse_tables
from rmbrec_pyg.train.allocator import retain_freed_memory
from rmbrec_pyg.train.calibration import (evaluate_epoch, keep_training,
                                          make_calibration)
from rmbrec_pyg.train.checkpoint import (RunCheckpoints, best_model_state,
                                         load_encoder_state, own_streams,
                                         restore_training_state,
                                         training_state)
from rmbrec_pyg.train.config import LossConfig, OptimConfig, TrainerConfig
from rmbrec_pyg.train.extension_config import (FloorConfig, FusionConfig,
                                               RerankConfig)
from rmbrec_pyg.train.epoch_terms import EpochTerms
from rmbrec_pyg.train.extensions import attach_extensions, extension_row
from rmbrec_pyg.train.optim import build_optimizer
from rmbrec_pyg.train.pretrain import pretrain_embeddings
from rmbrec_pyg.train.run_writer import RunLogger, RunWriter
from rmbrec_pyg.train.runtime import resolve_device
from rmbrec_pyg.train.step import (StepRunner, epoch_batches, make_sampler,
                                   use_device_sampler, use_graph)


class Trainer:
    r"""Trains a :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder` with the
    RMBRec objective (:class:`~rmbrec_pyg.objective.Objective`).

    Every epoch visits every user once in random mini-batches; each batch
    propagates all behavior graphs (as the paper and the authors' code do).
    The validation metric :obj:`config.monitor` drives early stopping and
    model selection; test metrics are those of the selected model. With
    ``fusion.mode='adaptive'`` the encoder gets an
    :class:`~rmbrec_pyg.nn.AdaptiveFusion` built from the training BAR
    (unless it has one), calibrated on validation after training.

    Args:
        data (HeteroData): A multi-behavior graph (see
            :func:`~rmbrec_pyg.data.build_hetero_data`).
        encoder (MultiBehaviorEncoder or MultiBehaviorBaseline): The model
            (a baseline trains with its own loss).
        regularizers (Mapping[str, Regularizer], optional): Named plug-in
            terms of the objective.
        config (TrainerConfig): Loop settings.
        loss (LossConfig): Loss settings.
        optim (OptimConfig): Adam settings.
        out_dir (str, optional): The run dir for ``metrics.json``,
            ``metrics.csv``, plots and checkpoints. (default: :obj:`None`,
            nothing is written)
        fusion (FusionConfig): Behavior fusion settings.
        floor (FloorConfig): The target floor (a target-only tower and a
            per-user blend) settings.
        evaluation (EvalConfig): The evaluation protocol and its settings.
        rerank (RerankConfig): The re-finding boost, chosen on validation
            after training (any model).
        run_config (dict, optional): The run's configuration as plain data,
            stored in ``best.pt``.
        loggers (Sequence[RunLogger]): More trackers for every epoch.
    """
    def __init__(self, data: HeteroData,
                 encoder: Union[MultiBehaviorEncoder, MultiBehaviorBaseline],
                 regularizers: Optional[Mapping[str, Regularizer]] = None,
                 config: Optional[TrainerConfig] = None,
                 loss: Optional[LossConfig] = None,
                 optim: Optional[OptimConfig] = None,
                 out_dir: Optional[str] = None,
                 fusion: Optional[FusionConfig] = None,
                 run_config: Optional[Dict[str, Any]] = None,
                 loggers: Sequence[RunLogger] = (),
                 evaluation: Optional[EvalConfig] = None,
                 floor: Optional[FloorConfig] = None,
                 rerank: Optional[RerankConfig] = None) -> None:
        self.config = cfg = config or TrainerConfig()
        loss, optim = loss or LossConfig(), optim or OptimConfig()
        fusion, evaluation = fusion or FusionConfig(), evaluation or EvalConfig()
        floor = floor or FloorConfig()
        rerank = rerank or RerankConfig()
        for c in (cfg, loss, optim, fusion, evaluation, floor, rerank):
            c.validate()
        evaluation.check_monitor(cfg.monitor)
        self.device = resolve_device(cfg.device)
        if cfg.retain_freed_memory and self.device.type == 'cpu':
            retain_freed_memory()
        self.data, self.run_config = data, run_config
        self.optim_config = optim
        self.behaviors: List[str] = list(encoder.behaviors)
        attach_extensions(encoder, data, fusion, floor)
        self.encoder = encoder.to(self.device)
        self.objective = ModelObjective() if isinstance(
            encoder, MultiBehaviorBaseline) else Objective(
            self.behaviors, str(data.target), regularizers,
            gate_strength=fusion.strength, tower_reg=floor.tower_reg,
            **asdict(loss)).to(self.device)
        if self.objective.needs_double_backward:
            self.encoder.fused = False
        by_behavior = edge_index_dict_of(data)
        edges: Dict[Any, Tensor] = {b: by_behavior[b]
                                    for b in self.behaviors}
        self.num_users, ni = encoder.num_users, encoder.num_items
        #: Users per step: trainer.batch_size, or the share of one of
        #: trainer.steps_per_epoch steps.
        self.batch_size = cfg.batch_size if cfg.steps_per_epoch == 0 else \
            -(-self.num_users // cfg.steps_per_epoch)
        self.adj: Dict[Any, Any] = encoder.build_adjacency(
            edges, self.num_users, ni, backend=encoder.sparse_backend,
            device=self.device)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.train_adj = self._training_graphs(encoder, cfg)
        self.on_device = use_device_sampler(cfg.sampler, self.device)
        self.sampler = make_sampler(edges, self.num_users, ni, cfg.negatives,
                                    self.device, self.on_device,
                                    self.generator)
        self.objective.static_shapes = self.on_device and \
            self.objective.supports_static_shapes
        self.evaluator = Evaluator(data, evaluation, self.device,
                                   required=('val', ))
        self.rank, self.world_size = distributed.rank_and_world()
        graph = use_graph(cfg.compile, self.device,
                          self.objective.static_shapes and
                          cfg.propagation == 'full',
                          self.world_size if distributed.in_group() else 0)
        if cfg.tables == 'sharded':  # torchrec tables, fused optimizer
            self.model, self.optimizer = sharded.wrap(self)
        elif cfg.table_optimizer != 'auto':  # row-wise, sparse gradients
            self.optimizer = sparse_tables.build(self, build_optimizer)
            self.model = self.encoder
        else:
            self.optimizer = build_optimizer(self.encoder, self.objective,
                                             optim, capturable=graph)
            self.model = distributed.wrap(self.encoder, self.device)
        self.runner = StepRunner(self, graph)
        main = self.rank == 0
        self.checkpoints = RunCheckpoints(out_dir if main else None,
                                          cfg.checkpoint)
        # every rank resumes from rank 0's last.pt
        self._resume_from = RunCheckpoints(out_dir)
        self.writer = RunWriter.default(
            out_dir if main else None, self.behaviors,
            {k: r.weight for k, r in self.objective.regularizers.items()},
            cfg.monitor, evaluation.label, loggers)
        self.history = self.writer.history  # one row per epoch
        self.calibration = make_calibration(encoder, fusion, floor, rerank)
        # The re-finding boost of the selected model, once chosen.
        self.refind: Optional[Refind] = None
        self.epoch = 0
        self.best: Dict[str, Any] = {'epoch': -1, 'score': -math.inf,
                                     'valid': {}, 'test': {}}
        self.pretrained: Optional[Dict[str, Any]] = None

    def batches(self) -> List[Tensor]:
        return epoch_batches(self.num_users, self.batch_size,
                             self.device, self.on_device, self.generator)

    def progress(self, desc: str) -> Iterable[Tensor]:
        r"""One epoch's batches of users (:meth:`batches`) behind a
        progress bar."""
        return tqdm(self.batches(), desc=desc, leave=False, unit='batch',
                    disable=not self.config.progress)

    def sample(self, users: Tensor) -> Tuple[Tensor, ...]:
        r"""The triples of a batch of users (a CPU tensor), this process's
        share, on the device: :obj:`(users, pos, neg, mask)`."""
        batch = (users, *self.sampler.sample(users))
        batch = distributed.shard(batch, self.rank, self.world_size)
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def step(self, users: Tensor) -> Any:
        r"""The loss of one batch of users (a CPU tensor): :obj:`(total,
        terms)`, see :class:`~rmbrec_pyg.objective.Objective`."""
        return self.objective(self.model, self.train_adj,
                              *self.sample(users))

    def _training_graphs(self, encoder: Any, cfg: TrainerConfig) -> Any:
        # What a training step propagates: the whole graphs, or (sampled)
        # a sampler of the batch's neighbourhoods over the same adjacency.
        if cfg.propagation == 'full':
            return self.adj
        if not isinstance(encoder, MultiBehaviorEncoder):
            raise ConfigError("'trainer.propagation=sampled' needs RMBRec's "
                              f'encoder (got {type(encoder).__name__}); '
                              'the baselines propagate the whole graph')
        unknown = sorted(set(cfg.fanouts) - set(self.behaviors))
        if unknown:
            raise ConfigError(f"'trainer.fanouts' names unknown behaviors "
                              f'{unknown} (behaviors: {self.behaviors})')
        fanout = {b: cfg.fanouts.get(b, cfg.fanout) for b in self.behaviors}
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        backend = resolve_neighbor_sampler(cfg.neighbor_sampler, self.device)
        return NeighborhoodSampler(self.adj, encoder.num_layers, fanout, gen,
                                   backend)

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        r"""One pass over all users; returns the mean of every loss term
        (raises :class:`~rmbrec_pyg.train.TrainingDivergedError` if one is
        not finite)."""
        self.encoder.train()
        terms = EpochTerms()
        for users in self.progress(f'epoch {epoch}'):
            terms.add(self.runner(users))
        return terms.means(epoch)

    @torch.no_grad()
    def embeddings(self) -> Any:
        self.encoder.eval()
        return self.encoder.get_embedding(self.adj)

    def evaluate(self, splits: Sequence[str] = SPLITS,
                 demote_aux: bool = False) -> Dict[str, Any]:
        r"""Metrics of the current model on the held-out splits (see
        :class:`~rmbrec_pyg.evaluation.Evaluator`), ranking auxiliary items
        last for every user (:obj:`demote_aux`) or as the model says, and
        with the re-finding boost once one is chosen (:attr:`refind`)."""
        bonus = self.evaluator.bonus(self.refind)
        demote = True if demote_aux else self.encoder.demote_users()
        if bonus is not None:
            demote = None  # the boost holds the choice of demoting
        return self.evaluator(*self.embeddings(), splits,
                              False if demote is None else demote, bonus)

    def state_dict(self) -> Dict[str, Any]:
        r"""Everything needed to resume (``last.pt``)."""
        return training_state(self)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        restore_training_state(self, state)

    def metrics(self) -> Dict[str, Any]:
        r"""``best_epoch``, ``valid``, ``test``, their groups and any
        calibrated choices of the selected model."""
        return {'best_epoch': self.best['epoch'],
                'protocol': self.evaluator.label,
                **({'pretrain': self.pretrained} if self.pretrained else {}),
                **{k: v for k, v in self.best.items()
                   if k not in ('epoch', 'score') and v is not None}}

    def fit(self) -> Dict[str, Any]:
        r"""Trains until :obj:`max_epochs` or early stopping (resuming from
        ``last.pt`` with :obj:`config.resume`) and returns :meth:`metrics`.
        """
        cfg = self.config
        last = self._resume_from.load('last.pt', self.device) \
            if cfg.resume else None
        if last is not None:
            self.load_state_dict(last)
        if self.epoch == 0:
            self.pretrained = pretrain_embeddings(self)
        while self.epoch < cfg.max_epochs:
            if self.best['epoch'] >= 0 and not keep_training(self) and \
                    self.epoch - self.best['epoch'] > cfg.patience:
                break
            epoch, t0 = self.epoch + 1, time.perf_counter()
            terms = self.train_epoch(epoch)
            if distributed.in_group():  # every rank's streams in last.pt
                self.rank_streams = distributed.from_every_rank(
                    own_streams(self))
            if cfg.tables == 'sharded':  # rank 0 evaluates, writes last.pt
                sharded.pull_tables(self.model, self.encoder)
                if cfg.checkpoint:  # and the fused optimizer's state
                    self.sharded_optimizer_state = \
                        sharded.gather_optimizer_state(self.optimizer)
            row: Dict[str, Any] = {
                'epoch': epoch, 'train_s': time.perf_counter() - t0,
                **{f'loss_{k}': v for k, v in terms.items()}}
            improved = False
            if self.rank == 0 and (epoch % cfg.eval_every == 0
                                   or epoch == cfg.max_epochs):
                t1 = time.perf_counter()
                res = evaluate_epoch(self)
                row.update({f'valid_{k}': v for k, v in res['val'].items()})
                row['protocol'] = self.evaluator.label
                if res['val'][cfg.monitor] > self.best['score']:
                    improved = True
                    self._record_best(epoch, res)
                row['eval_s'] = time.perf_counter() - t1
            row.update(extension_row(self.encoder))
            self.epoch = epoch
            self.best['epoch'] = distributed.from_rank0(self.best['epoch'])
            if self.rank != 0:
                continue
            self.writer.log_epoch(row, improved)
            self.checkpoints.save(self.state_dict(), best_model_state(self)
                                  if improved else None)
            self.writer.log_metrics(self.metrics())
        if self.rank == 0:
            if self.calibration is not None:
                self.calibration.run(self)
            self.writer.log_metrics(self.metrics())
            self.writer.close()
        return self.metrics()

    def adopt(self, state: Dict[str, Any]) -> Dict[str, Any]:
        r"""Takes the encoder of a saved checkpoint (e.g. a run's
        ``best.pt``) as this trainer's best model: evaluates it and, with
        adaptive fusion, keeps it for calibration. Returns :meth:`metrics`."""
        load_encoder_state(self.encoder, state['encoder'])
        self.refind = Refind.from_dict(
            (state.get('ranking') or {}).get('refind'))
        self._record_best(int(state.get('epoch', -1)), self.evaluate())
        return self.metrics()

    def _record_best(self, epoch: int, res: Dict[str, Any]) -> None:
        # The current model, evaluated as `res`, becomes the best one.
        valid = res.get('val', {})
        self.best = {'epoch': epoch,
                     'score': valid.get(self.config.monitor, -math.inf),
                     'valid': valid, 'test': res.get('test', {}),
                     'valid_groups': res.get('val_groups'),
                     'test_groups': res.get('test_groups')}
        if self.calibration is not None:
            self.calibration.remember(self.encoder)
