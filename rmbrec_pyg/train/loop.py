r"""The RMBRec training loop: plain PyTorch, no Hydra."""
import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.hetero import edge_index_dict_of, edge_type
from rmbrec_pyg.evaluation import (ExclusionIndex, aux_evidence_mask,
                                   heldout_metrics)
from rmbrec_pyg.graph.sampling import BehaviorSampler
from rmbrec_pyg.loss import behavior_losses, bpr_loss, embedding_l2
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.nn.fusion import AdaptiveFusion
from rmbrec_pyg.regularizers.base import Regularizer, RegularizerInput
from rmbrec_pyg.train.allocator import retain_freed_memory
from rmbrec_pyg.train.checkpoint import load, save_atomic
from rmbrec_pyg.train.config import (FusionConfig, LossConfig, OptimConfig,
                                     TrainerConfig)

log = logging.getLogger('rmbrec_pyg')


class TrainingDivergedError(RuntimeError):
    r"""A loss term became NaN or infinite."""


def resolve_device(device: str) -> torch.device:
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    r"""Trains a :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder` with the
    RMBRec objective (paper Eq. 10)

    .. math::
        \mathcal{L} = \mathcal{L}_{main} + \sum_r w_r \mathcal{L}_r
        + \lambda_{reg}\mathcal{L}_{L2}

    where :math:`\mathcal{L}_{main}` is BPR on the fused embeddings with the
    target triples and the :math:`\mathcal{L}_r` are the pluggable
    regularizers (RRM with :math:`w=\lambda_1`, ORM with :math:`w=\lambda_2`).

    Every epoch visits every user once in random mini-batches; each batch
    propagates all behavior graphs (as the paper and the authors' code do).
    Validation HR@10 drives early stopping; test metrics are those at the
    best validation epoch.

    Args:
        data (HeteroData): A multi-behavior graph (see
            :func:`~rmbrec_pyg.data.build_hetero_data`).
        encoder (MultiBehaviorEncoder): The model.
        regularizers (Mapping[str, Regularizer]): Named plug-in terms.
        config (TrainerConfig): Loop settings.
        loss (LossConfig): Loss settings.
        optim (OptimConfig): Adam settings.
        out_dir (str, optional): Where ``metrics.json``, ``metrics.csv`` and
            the checkpoints go. (default: :obj:`None`, nothing is written)
    """
    def __init__(self, data: HeteroData, encoder: MultiBehaviorEncoder,
                 regularizers: Optional[Mapping[str, Regularizer]] = None,
                 config: Optional[TrainerConfig] = None,
                 loss: Optional[LossConfig] = None,
                 optim: Optional[OptimConfig] = None,
                 out_dir: Optional[str] = None,
                 fusion: Optional[FusionConfig] = None) -> None:
        self.config = config or TrainerConfig()
        self.loss_cfg = loss or LossConfig()
        self.optim_cfg = optim or OptimConfig()
        self.fusion_cfg = fusion or FusionConfig()
        for c in (self.config, self.loss_cfg, self.optim_cfg,
                  self.fusion_cfg):
            c.validate()
        self.device = resolve_device(self.config.device)
        if self.config.retain_freed_memory and self.device.type == 'cpu':
            retain_freed_memory()
        self.data = data
        self.behaviors: List[str] = list(encoder.behaviors)
        self.target = str(data.target)
        if self.target not in self.behaviors:
            raise ValueError(f"target behavior '{self.target}' is not among "
                             f"the encoder's behaviors {self.behaviors}")
        self.target_index = self.behaviors.index(self.target)
        self.num_users = int(data['user'].num_nodes)
        self.num_items = int(data['item'].num_nodes)
        self.encoder = encoder.to(self.device)
        self.regularizers = torch.nn.ModuleDict(dict(regularizers or {}))
        self.regularizers.to(self.device)
        if any(r.needs_double_backward for r in self.regularizers.values()):
            self.encoder.fused = False
        self.out_dir = out_dir
        edges = edge_index_dict_of(data)
        edges = {b: edges[b] for b in self.behaviors}
        self.adj = MultiBehaviorEncoder.build_adjacency(
            edges, self.num_users, self.num_items, device=self.device)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.sampler = BehaviorSampler(edges, self.num_users, self.num_items,
                                       self.config.negatives, self.generator)
        store = data[edge_type(self.target)]
        self.exclude = ExclusionIndex(store.edge_index, self.num_users).to(
            self.device)
        self.labels = {
            split: store[f'{split}_edge_label_index'].to(self.device)
            for split in ('val', 'test')
            if f'{split}_edge_label_index' in store
        }
        # Groups are defined by the dataset's auxiliary behaviors, whatever
        # subset the model uses (target-only LightGCN included).
        self.data_aux = [b for b in data.behaviors if b != self.target]
        aux_edges = [data[edge_type(b)].edge_index for b in self.data_aux]
        self.has_aux = {
            split: aux_evidence_mask(index.cpu(), aux_edges,
                                     self.num_items).to(self.device)
            for split, index in self.labels.items()}
        self.fusion: Optional[AdaptiveFusion] = None
        if self.fusion_cfg.mode == 'adaptive':
            self.fusion = AdaptiveFusion(
                self.behaviors, self.fusion_prior(),
                learn=self.fusion_cfg.gate == 'learned').to(self.device)
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        params += [p for p in self.regularizers.parameters()
                   if p.requires_grad]
        groups: List[Dict[str, Any]] = [{'params': params}]
        if self.fusion is not None and self.fusion.gate.requires_grad:
            groups.append({'params': [self.fusion.gate],  # no weight decay
                           'weight_decay': 0.0})
        self.optimizer = torch.optim.Adam(
            groups, lr=self.optim_cfg.lr,
            weight_decay=self.optim_cfg.weight_decay,
            fused=self.optim_cfg.fused or None)
        # torch.distributed: every rank draws the same global batch and the
        # same triples (shared generator), takes its own share, and DDP
        # averages the gradients. Rank 0 evaluates, logs and writes.
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.model: torch.nn.Module = self.encoder
        if self.distributed:
            if self.config.resume:
                raise ConfigError('trainer.resume is not supported under '
                                  'torchrun yet; resume on one process')
            self.model = DistributedDataParallel(
                self.encoder, device_ids=([self.device.index]
                                          if self.device.type == 'cuda'
                                          else None))
        self.epoch = 0
        self.best: Dict[str, Any] = {'epoch': -1, 'score': -math.inf,
                                     'valid': {}, 'test': {}}
        self.history: List[Dict[str, float]] = []
        self.callbacks: List[Callable[[Dict[str, float]], None]] = []
        self.best_state: Optional[Dict[str, Any]] = None

    def training_bar(self) -> Tensor:
        r"""BAR of every behavior on the *training* target pairs (1 for the
        target itself), in behavior order."""
        nt = self.num_items
        index = self.data[edge_type(self.target)].edge_index
        keys = index[0] * nt + index[1]
        out = []
        for b in self.behaviors:
            if b == self.target:
                out.append(1.0)
                continue
            e = self.data[edge_type(b)].edge_index
            out.append(float(torch.isin(keys, e[0] * nt + e[1]).float()
                             .mean()) if keys.numel() else 0.0)
        return torch.tensor(out)

    def fusion_prior(self) -> Tensor:
        r"""The adaptive-fusion prior: each auxiliary behavior's training BAR
        relative to the best auxiliary behavior, to the power
        :math:`\gamma`; the target gets 1. The best-aligned auxiliary
        behavior and the target thus start level (equal fusion when all
        behaviors are well aligned) and a behavior that covers few
        purchases starts near zero."""
        bar = self.training_bar()
        aux = [i for i in range(len(self.behaviors)) if i != self.target_index]
        prior = torch.ones_like(bar)
        if aux:
            top = bar[aux].max().clamp_min(1e-12)
            prior[aux] = (bar[aux] / top).pow(self.fusion_cfg.prior_power)
        return prior

    def fusion_weights(self) -> Optional[Tensor]:
        r"""The fusion weights of a training step, or :obj:`None` for the
        plain mean: without adaptive fusion, and with computed
        (``gate='prior'``) weights that are uniform, so that adaptive fusion
        over equally aligned behaviors trains exactly as equal fusion."""
        if self.fusion is None or self.fusion.constant_mean:
            return None
        return self.fusion.weights()

    # ------------------------------------------------------------------
    def step(self, users: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the loss of one batch of users (a CPU tensor) and
        returns :obj:`(total, terms)` with unweighted, detached terms."""
        cfg = self.loss_cfg
        pos, neg, mask = self.sampler.sample(users)
        if self.world_size > 1:  # this rank's share of the global batch
            part = torch.arange(users.numel()).tensor_split(
                self.world_size)[self.rank]
            users, pos, neg, mask = users[part], pos[part], neg[part], \
                mask[part]
        dev = self.device
        users = users.to(dev, non_blocking=True)
        pos = pos.to(dev, non_blocking=True)
        neg = neg.to(dev, non_blocking=True)
        mask = mask.to(dev, non_blocking=True)
        # The encoder gathers the batch rows itself; everything below works
        # on them. Items: per-behavior positives and negatives, then the
        # target triple's items under every behavior for the fused main loss.
        n, t = users.numel(), self.target_index
        bidx = torch.arange(len(self.behaviors), device=dev).unsqueeze(0)
        w = self.fusion_weights()  # None unless fusion is adaptive
        t_items = torch.cat([pos[:, t], neg[:, t]])
        u, rows = self.model(
            self.adj, users,
            torch.cat([pos.reshape(-1), neg.reshape(-1), t_items]))
        nb = n * len(self.behaviors)
        q = rows[:2 * nb].view(2 * n, -1, *rows.shape[1:])  # [2N, B, B, F]
        q = q[:, bidx[0], bidx[0]]  # behavior b's own embedding: [2N, B, F]
        qi, qj = q[:n], q[n:]
        diffs = (u * (qi - qj)).sum(-1)  # [N, B]
        beh = behavior_losses(diffs, mask, cfg.missing)

        # Main loss: BPR on the fused embeddings with the target triples.
        q_t = rows[2 * nb:]  # [2N, B, F]
        zu, zi = self.encoder.fuse(u, q_t, weights=w)
        main_diff = (zu * (zi[:n] - zi[n:])).sum(-1)
        main = bpr_loss(main_diff, torch.zeros_like(main_diff), mask[:, t],
                        cfg.missing)
        terms: Dict[str, Tensor] = {'main': main}
        total = main
        if cfg.behavior_loss_weight > 0:
            per = beh if w is None else beh * w * len(self.behaviors)
            total = total + cfg.behavior_loss_weight * per.sum()
        if self.fusion is not None and self.fusion.gate.requires_grad and \
                self.fusion_cfg.strength > 0:
            gate = self.fusion.penalty()
            terms['gate'] = gate
            total = total + self.fusion_cfg.strength * gate
        if cfg.emb_reg > 0 and cfg.emb_reg_on != 'none':
            if cfg.emb_reg_on == 'propagated':
                m = mask.unsqueeze(-1).to(u.dtype)
                if w is not None:  # adaptive: weight each behavior's rows
                    m = m * (w / w.max()).sqrt().view(1, -1, 1)
                reg = embedding_l2(u * m, qi * m, qj * m, batch_size=n)
            else:
                reg = embedding_l2(
                    self.encoder.user_embedding.weight[users],
                    self.encoder.item_embedding.weight[pos[:, t]],
                    self.encoder.item_embedding.weight[neg[:, t]],
                    batch_size=n)
            terms['reg'] = reg
            total = total + cfg.emb_reg * reg
        if len(self.regularizers) > 0:
            # RRM looks at the batch users with a target item (the users of
            # the target triples, as in the authors' code).
            inputs = RegularizerInput(
                user_emb=u[mask[:, t]], behavior_losses=beh,
                score_diffs=diffs, mask=mask, target_index=t,
                behaviors=self.behaviors,
                params=[self.encoder.user_embedding.weight,
                        self.encoder.item_embedding.weight],
                missing=cfg.missing, behavior_weights=w)
            for name, reg_term in self.regularizers.items():
                if reg_term.weight == 0:
                    continue
                value = reg_term(inputs)
                terms[name] = value
                total = total + reg_term.weight * value
        for i, b in enumerate(self.behaviors):
            terms[f'bpr_{b}'] = beh[i]
        terms['total'] = total
        return total, {k: v.detach() for k, v in terms.items()}

    def batches(self) -> List[Tensor]:
        perm = torch.randperm(self.num_users, generator=self.generator)
        return list(perm.split(self.config.batch_size))

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        self.encoder.train()
        sums: Dict[str, Tensor] = {}
        # Batch index at which each term first became NaN/inf, tracked on
        # the device (no sync per step) to name the culprit afterwards.
        first_bad: Dict[str, Tensor] = {}
        batches = self.batches()
        bar = tqdm(batches, desc=f'epoch {epoch}', leave=False,
                   disable=not self.config.progress, unit='batch')
        for i, users in enumerate(bar):
            self.optimizer.zero_grad(set_to_none=True)
            total, terms = self.step(users)
            total.backward()
            self.optimizer.step()
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v
                bad = torch.where(torch.isfinite(v), math.inf, float(i))
                first_bad[k] = (torch.minimum(first_bad[k], bad)
                                if k in first_bad else bad)
        keys = list(sums)
        stacked = torch.stack([sums[k] for k in keys]) / max(len(batches), 1)
        if self.world_size > 1:  # log the mean over ranks
            dist.all_reduce(stacked)
            stacked /= self.world_size
        values = stacked.tolist()  # one sync per epoch
        out = dict(zip(keys, values))
        if not all(math.isfinite(v) for v in values):
            firsts = dict(zip(keys, torch.stack(
                [first_bad[k] for k in keys]).tolist()))
            # The earliest term wins; 'total' only if nothing else is bad.
            k = min(keys, key=lambda k: (firsts[k], k == 'total'))
            raise TrainingDivergedError(
                f"loss term '{k}' became {out[k]} in epoch {epoch} (batch "
                f'{int(firsts[k]) + 1}); the last good checkpoint is kept')
        return out

    @torch.no_grad()
    def embeddings(self, weights: Optional[Tensor] = None
                   ) -> Tuple[Tensor, Tensor]:
        self.encoder.eval()
        if weights is None:
            weights = self.fusion_weights()
        return self.encoder.get_embedding(self.adj, weights=weights)

    @torch.no_grad()
    def evaluate(self, splits: Tuple[str, ...] = ('val', 'test'),
                 weights: Optional[Tensor] = None,
                 demote_aux: bool = False) -> Dict[str, Any]:
        r"""Full-ranking metrics of the held-out splits, plus
        ``'<split>_groups'``: the same for pairs with auxiliary evidence and
        for direct target pairs."""
        zu, zi = self.embeddings(weights)
        labels = {s: self.labels[s] for s in splits if s in self.labels}
        demote = None
        if demote_aux:
            aux = [self.data[edge_type(b)].edge_index for b in self.data_aux]
            demote = ExclusionIndex(torch.cat(aux, dim=1), self.num_users
                                    ).to(self.device) if aux else None
        return heldout_metrics(zu, zi, labels, self.exclude, self.has_aux,
                               self.config.ks, self.config.eval_batch_size,
                               self.config.eval_precision, demote,
                               self.config.eval_candidates,
                               self.config.eval_clusters)

    # ------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {
            'encoder': self.encoder.state_dict(),
            'regularizers': self.regularizers.state_dict(),
            'fusion': (None if self.fusion is None else
                       self.fusion.state_dict()),
            'optimizer': self.optimizer.state_dict(),
            'generator': self.generator.get_state(),
            'torch_rng': torch.get_rng_state(),
            'epoch': self.epoch,
            'best': self.best,
            'history': self.history,
            'behaviors': self.behaviors,
            'target': self.target,
            'num_users': self.num_users,
            'num_items': self.num_items,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.encoder.load_state_dict(state['encoder'])
        self.regularizers.load_state_dict(state['regularizers'])
        if self.fusion is not None and state.get('fusion') is not None:
            self.fusion.load_state_dict(state['fusion'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.generator.set_state(state['generator'])
        torch.set_rng_state(state['torch_rng'])
        self.epoch = int(state['epoch'])
        self.best = state['best']
        self.history = list(state['history'])

    def _path(self, name: str) -> Optional[str]:
        return None if self.out_dir is None else os.path.join(
            self.out_dir, name)

    def try_resume(self) -> bool:
        path = self._path('last.pt')
        if not self.config.resume or path is None or not os.path.exists(path):
            return False
        self.load_state_dict(load(path, map_location=self.device))
        log.info('resumed from %s at epoch %d', path, self.epoch)
        return True

    def _save(self, best: bool) -> None:
        if self.out_dir is None or not self.config.checkpoint:
            return
        state = self.state_dict()
        save_atomic(state, self._path('last.pt'))  # type: ignore[arg-type]
        if best:
            save_atomic({k: state[k] for k in (
                'encoder', 'epoch', 'best', 'behaviors', 'target',
                'num_users', 'num_items')} | {
                    'config': self.encoder_config(),
                    'fusion_weights': self._weights_list()},
                self._path('best.pt'))  # type: ignore[arg-type]

    def _weights_list(self) -> Optional[List[float]]:
        if 'fusion_weights' in self.best:
            return [self.best['fusion_weights'][b] for b in self.behaviors]
        w = self.fusion_weights()
        return None if w is None else w.detach().tolist()

    def encoder_config(self) -> Dict[str, Any]:
        e = self.encoder
        return {'num_users': e.num_users, 'num_items': e.num_items,
                'behaviors': e.behaviors, 'embedding_dim': e.embedding_dim,
                'num_layers': e.num_layers,
                'layer_combination': e.layer_combination}

    def _tensorboard(self, row: Dict[str, float]) -> None:
        # Optional extra: per-epoch scalars to TensorBoard when installed.
        if self.out_dir is None or self.rank != 0:
            return
        if not hasattr(self, '_tb'):
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb: Any = SummaryWriter(os.path.join(self.out_dir,
                                                           'tensorboard'))
            except Exception:  # tensorboard not installed
                self._tb = None
        if self._tb is None:
            return
        step = int(row['epoch'])
        for key, value in row.items():
            if key != 'epoch':
                self._tb.add_scalar(key.replace('_', '/', 1), value, step)
        self._tb.flush()

    def _write_history(self) -> None:
        path = self._path('metrics.csv')
        if path is None or not self.history:
            return
        keys: List[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        tmp = path + '.tmp'
        with open(tmp, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
        os.replace(tmp, path)

    def metrics(self) -> Dict[str, Any]:
        out = {'best_epoch': self.best['epoch'], 'valid': self.best['valid'],
               'test': self.best['test']}
        for key in ('valid_groups', 'test_groups', 'fusion_alpha',
                    'fusion_weights', 'demote_aux'):
            if self.best.get(key) is not None:
                out[key] = self.best[key]
        return out

    def _write_metrics(self) -> None:
        path = self._path('metrics.json')
        if path is None:
            return
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.metrics(), f, indent=2)
        os.replace(tmp, path)

    # ------------------------------------------------------------------
    def fit(self) -> Dict[str, Any]:
        r"""Trains until :obj:`max_epochs` or early stopping and returns
        :obj:`{'best_epoch', 'valid', 'test'}`."""
        cfg = self.config
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
        self.try_resume()
        monitor = cfg.monitor
        while self.epoch < cfg.max_epochs:
            if self.best['epoch'] >= 0 and \
                    self.epoch - self.best['epoch'] > cfg.patience:
                break
            epoch = self.epoch + 1
            t0 = time.perf_counter()
            terms = self.train_epoch(epoch)
            t_train = time.perf_counter() - t0
            row: Dict[str, float] = {'epoch': epoch, 'train_s': t_train}
            row.update({f'loss_{k}': v for k, v in terms.items()})
            if self.fusion is not None:
                row.update({f'w_{b}': v for b, v in
                            self.fusion.as_dict().items()})
            improved = False
            if self.rank == 0 and (epoch % cfg.eval_every == 0
                                   or epoch == cfg.max_epochs):
                t1 = time.perf_counter()
                # Validation and test share one ranking pass (same users).
                res = self.evaluate(('val', 'test'))
                valid = res.get('val', {})
                row.update({f'valid_{k}': v for k, v in valid.items()})
                score = valid.get(monitor, -math.inf)
                if score > self.best['score']:
                    improved = True
                    self._record_best(epoch, res)
                row['eval_s'] = time.perf_counter() - t1
            self.epoch = epoch
            if self.world_size > 1:  # all ranks follow rank 0's early stop
                best = torch.tensor([self.best['epoch']])
                dist.broadcast(best, src=0)
                self.best['epoch'] = int(best)
            if self.rank != 0:
                continue
            for cb in self.callbacks:
                cb(row)
            self.history.append(row)
            self._tensorboard(row)
            self._save(best=improved)
            self._write_history()
            self._write_metrics()
            log.info(self.format_row(row, improved))
        if self.rank == 0:
            self.calibrate()
            self._plot_weights()
            self._write_metrics()
        return self.metrics()

    def adopt(self, state: Dict[str, Any]) -> Dict[str, Any]:
        r"""Takes the encoder of a saved checkpoint (e.g. a run's
        ``best.pt``) as this trainer's best model: evaluates it and, with
        adaptive fusion, keeps it for :meth:`calibrate`. Returns
        :meth:`metrics`."""
        self.encoder.load_state_dict(state['encoder'])
        self._record_best(int(state.get('epoch', -1)),
                          self.evaluate(('val', 'test')))
        return self.metrics()

    def _record_best(self, epoch: int, res: Dict[str, Any]) -> None:
        # The current model, evaluated as :obj:`res`, becomes the best one;
        # with adaptive calibration its state is kept for calibrate().
        valid = res.get('val', {})
        self.best = {'epoch': epoch,
                     'score': valid.get(self.config.monitor, -math.inf),
                     'valid': valid, 'test': res.get('test', {}),
                     'valid_groups': res.get('val_groups'),
                     'test_groups': res.get('test_groups')}
        if self.fusion is not None and self.fusion_cfg.calibrate:
            self.best_state = {k: v.detach().clone() for k, v in
                               self.encoder.state_dict().items()}
            self.best_state['__gate'] = self.fusion.gate.detach().clone()

    def calibrate(self) -> None:
        r"""Chooses, on validation only, how much of the target tower to mix
        into the learned fusion weights (see :class:`FusionConfig`)."""
        if self.fusion is None or not self.fusion_cfg.calibrate or \
                self.best_state is None:
            return
        state = dict(self.best_state)
        gate = state.pop('__gate')
        current = {k: v.clone() for k, v in self.encoder.state_dict().items()}
        current_gate = self.fusion.gate.detach().clone()
        self.encoder.load_state_dict(state)
        with torch.no_grad():
            self.fusion.gate.copy_(gate)
        w = self.fusion.weights().detach()
        onehot = torch.zeros_like(w)
        onehot[self.target_index] = 1.0
        best = None
        demotes = [False, True] if self.fusion_cfg.demote_aux else [False]
        for a in self.fusion_cfg.alphas:
            for demote in demotes:
                res = self.evaluate(('val', 'test'), (1 - a) * w + a * onehot,
                                    demote_aux=demote)
                score = res['val'][self.config.monitor]
                if best is None or score > best[0]:
                    best = (score, a, demote, res)
        assert best is not None
        score, a, demote, res = best
        self.best.update({'valid': res['val'], 'test': res['test'],
                          'valid_groups': res['val_groups'],
                          'test_groups': res['test_groups'],
                          'score': score, 'fusion_alpha': a,
                          'demote_aux': demote,
                          'fusion_weights': dict(zip(
                              self.behaviors,
                              ((1 - a) * w + a * onehot).tolist()))})
        log.info('calibrated on validation: alpha=%g, demote_aux=%s, '
                 'weights %s', a, demote, self.best['fusion_weights'])
        path = self._path('best.pt')
        if path is not None and os.path.exists(path):
            saved = load(path)
            saved['fusion_weights'] = self._weights_list()
            save_atomic(saved, path)
        self.encoder.load_state_dict(current)
        with torch.no_grad():
            self.fusion.gate.copy_(current_gate)

    def _plot_weights(self) -> None:
        path = self._path('fusion_weights.png')
        if self.fusion is None or path is None or not self.history:
            return
        try:
            import matplotlib
            matplotlib.use('Agg')
            import matplotlib.pyplot as plt
        except ImportError:  # optional extra
            return
        fig, ax = plt.subplots(figsize=(6, 3.5))
        epochs = [r['epoch'] for r in self.history]
        for b in self.behaviors:
            ax.plot(epochs, [r[f'w_{b}'] for r in self.history], label=b)
        ax.set_xlabel('epoch')
        ax.set_ylabel('fusion weight')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def format_row(self, row: Dict[str, float], improved: bool) -> str:
        parts = [f"epoch {int(row['epoch']):3d}", f"{row['train_s']:.1f}s"]
        for name in ['total', 'main', 'reg'] + list(self.regularizers):
            key = f'loss_{name}'
            if key in row:
                txt = f'{name} {row[key]:.4f}'
                if name in self.regularizers:
                    w = self.regularizers[name].weight
                    txt += f' (x{w:g}={w * row[key]:.4f})'
                parts.append(txt)
        parts.append('bpr ' + '/'.join(
            f"{row[f'loss_bpr_{b}']:.3f}" for b in self.behaviors))
        metric = f'valid_{self.config.monitor}'
        if metric in row:
            parts.append(f'{metric} {row[metric]:.4f}' +
                         (' *' if improved else ''))
        return ' | '.join(parts)
