r"""Replicated user and item tables with their own optimizer over sparse
gradients (``trainer.table_optimizer`` with ``trainer.tables=replicated``
and ``trainer.propagation=sampled``).

A sampled step reads only the rows of the batch's neighbourhoods, but a
dense table gradient and a dense Adam step still touch every row: the part
of a step that grows with the data, not with the batch. Here the encoder's
gather makes sparse gradients (:func:`torch.nn.functional.embedding` with
:obj:`sparse=True`, as PyG's :class:`~torch_geometric.nn.models.Node2Vec`
does) and the tables get an optimizer that updates only the looked-up rows,
as the fused optimizers of sharded tables do (:mod:`rmbrec_pyg.train.
sharded`):

- ``'adam'``: :class:`RowAdam`, Adam whose moments and weight decay touch
  only the looked-up rows (lazy Adam; not the dense Adam of the paper, so
  choose it on validation);
- ``'adagrad'`` and ``'sgd'``: :class:`torch.optim.Adagrad` and
  :class:`torch.optim.SGD` over sparse gradients, which update exactly as
  over dense ones (a row without gradient does not move), with no weight
  decay.

Every other parameter stays in the run's Adam."""
import math
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch
from torch import Tensor

from rmbrec_pyg.data.errors import ConfigError

#: ``trainer.table_optimizer`` values for replicated tables.
SPARSE_TABLE_OPTIMIZERS = ('adam', 'adagrad', 'sgd')


class RowAdam(torch.optim.Optimizer):
    r"""Adam over sparse (row) gradients: only the rows that have a gradient
    in a step update their moments and take the step, with the coupled L2
    weight decay of :class:`torch.optim.Adam` added to their gradient; the
    bias correction counts the steps of the table. On a gradient that holds
    every row it is :class:`torch.optim.Adam` (tested).

    Args:
        params (Iterable[Tensor]): The tables.
        lr (float): Learning rate. (default: :obj:`1e-3`)
        betas (Tuple[float, float]): Moment decays. (default:
            :obj:`(0.9, 0.999)`)
        eps (float): Added to the root of the second moment.
            (default: :obj:`1e-8`)
        weight_decay (float): L2 weight of the looked-up rows.
            (default: :obj:`0.0`)
    """
    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        if not lr > 0 or eps < 0 or weight_decay < 0 or \
                not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid RowAdam settings (lr={lr}, betas="
                             f'{tuple(betas)}, eps={eps}, weight_decay='
                             f'{weight_decay})')
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Optional[Tensor]:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # both moments of a row side by side: one
                    # gather and one scatter per step for the two
                    state['step'] = 0
                    state['moments'] = p.new_zeros((p.size(0), 2) +
                                                   tuple(p.shape[1:]))
                state['step'] += 1
                rows, grad = _rows(p.grad)
                # index_select / index_copy_: the rows are unique, and on
                # CPU these run several times faster than index_add_
                rows_p = p.index_select(0, rows)
                if group['weight_decay'] != 0:
                    grad = grad.add(rows_p, alpha=group['weight_decay'])
                moments = state['moments'].index_select(0, rows)
                m, v = moments.unbind(1)
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                state['moments'].index_copy_(0, rows, moments)
                t = state['step']
                step_size = group['lr'] / (1 - beta1 ** t)
                denom = (v.sqrt() / math.sqrt(1 - beta2 ** t)).add_(
                    group['eps'])
                p.index_copy_(0, rows, rows_p.addcdiv_(m, denom,
                                                       value=-step_size))
        return loss


def _rows(grad: Tensor) -> Any:
    # (row ids, their gradient rows) of a sparse or dense gradient; the
    # rows of a sparse one are summed over repeats.
    if grad.is_sparse and grad.sparse_dim() != 1:  # not rows: densify
        grad = grad.to_dense()
    if grad.is_sparse:
        grad = grad.coalesce()
        return grad.indices()[0], grad.values()
    return torch.arange(grad.size(0), device=grad.device), grad


class Optimizers:
    r"""Several optimizers stepped, zeroed and checkpointed as one (the
    tables' and the run's)."""
    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        with warnings.catch_warnings():  # Adagrad's, on every sparse step
            warnings.filterwarnings('ignore', 'Sparse invariant checks')
            for o in self.optimizers:
                o.step()

    def state_dict(self) -> Dict[str, Any]:
        return {'optimizers': [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        states = state.get('optimizers') if isinstance(state, dict) else None
        if states is None or len(states) != len(self.optimizers):
            raise ValueError('the checkpoint holds another optimizer than '
                             'trainer.table_optimizer makes')
        for o, s in zip(self.optimizers, states):
            o.load_state_dict(s)


def check_supported(trainer: Any) -> None:
    r"""Refuses what replicated tables with sparse gradients do not support
    (one line each)."""
    from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
    from rmbrec_pyg.train import distributed
    cfg, obj = trainer.config, trainer.objective
    key = f"'trainer.table_optimizer={cfg.table_optimizer}'"
    if not isinstance(trainer.encoder, MultiBehaviorEncoder):
        raise ConfigError(f'{key} needs RMBRec\'s encoder (got '
                          f'{type(trainer.encoder).__name__})')
    if getattr(obj, 'emb_reg_on', 'propagated') == 'base' or \
            getattr(obj, 'needs_double_backward', False):
        raise ConfigError(f"{key} does not support loss.emb_reg_on=base or "
                          "ORM mode 'irm_v2' (they take dense table "
                          'gradients); use trainer.table_optimizer=auto')
    if distributed.in_group():
        raise ConfigError(f'{key} with replicated tables runs on one '
                          'process; under torchrun use trainer.tables=sharded')


def build(trainer: Any, build_optimizer: Any) -> Optimizers:
    r"""Turns on the encoder's sparse table gradients and returns the
    tables' optimizer beside :obj:`build_optimizer`'s Adam over every other
    parameter."""
    check_supported(trainer)
    cfg, optim = trainer.config, trainer.optim_config
    enc = trainer.encoder
    tables = [enc.user_embedding.weight, enc.item_embedding.weight]
    enc.user_embedding.sparse = enc.item_embedding.sparse = True
    lr = cfg.table_lr or optim.lr
    name = cfg.table_optimizer
    if name == 'adam':
        table_opt: torch.optim.Optimizer = RowAdam(
            tables, lr=lr, weight_decay=optim.weight_decay)
    elif name == 'adagrad':
        table_opt = torch.optim.Adagrad(tables, lr=lr, eps=1e-8)
    else:
        table_opt = torch.optim.SGD(tables, lr=lr)
    rest = build_optimizer(trainer.encoder, trainer.objective, optim,
                           exclude=tables)
    return Optimizers([table_opt, rest])


__all__ = ['RowAdam', 'Optimizers', 'SPARSE_TABLE_OPTIMIZERS',
           'check_supported', 'build']
