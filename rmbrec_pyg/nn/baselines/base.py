r"""What the baselines of the paper's comparison share: base embeddings,
LightGCN propagation over the same normalised behavior graphs as RMBRec,
their own loss, and checkpoints as plain data."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Embedding, Module

from rmbrec_pyg.nn.behavior_conv import BehaviorConv
from rmbrec_pyg.nn.encoder import (MultiBehaviorEncoder, behavior_graph,
                                   check_sizes)

Key = Union[str, Tuple[str, str, str]]
Layers = Union[int, Mapping[str, int]]
PerBehavior = Union[int, float, Mapping[str, Any]]

#: Where a behavior sits in the usual e-commerce funnel (the cascade order of
#: CRGCN, MB-CGCN and PKEF: view, then favourite, then cart, then the target).
FUNNEL = {'view': 0, 'pv': 0, 'click': 0, 'collect': 1, 'fav': 1,
          'favorite': 1, 'favourite': 1, 'cart': 2}


def cascade_order(behaviors: Sequence[str], target: str,
                  order: Optional[Sequence[str]] = None) -> List[str]:
    r"""The behaviors in cascade order: :obj:`order` when given (it must
    hold every behavior once, the target last), else the auxiliary
    behaviors by their place in the funnel (:obj:`FUNNEL`; unknown names
    first, in the given order), then the target."""
    if order is not None:
        order = list(order)
        if sorted(order) != sorted(behaviors) or order[-1] != target:
            raise ValueError(f"'order' must list the behaviors "
                             f'{list(behaviors)} once each, the target '
                             f"'{target}' last (got {order})")
        return order
    aux = [b for b in behaviors if b != target]
    aux = sorted(aux, key=lambda b: FUNNEL.get(b, -1))  # stable
    return aux + [target]


def xavier_or_normal(weight: Tensor, init_std: Optional[float]) -> None:
    r"""Xavier-uniform initialisation (:obj:`init_std=None`), or normal with
    :obj:`init_std`."""
    if init_std is None:
        torch.nn.init.xavier_uniform_(weight)
    else:
        torch.nn.init.normal_(weight, std=init_std)


class MultiBehaviorBaseline(Module):
    r"""Base class of the baselines (SimGCL, CRGCN, MB-CGCN, PKEF): shared
    base embeddings of users and items, a parameter-free propagation layer
    (:class:`~rmbrec_pyg.nn.BehaviorConv`, :math:`\hat{A}\mathbf{X}`) over
    the behavior graphs of
    :meth:`~rmbrec_pyg.nn.MultiBehaviorEncoder.build_adjacency`, and each
    model's own training loss (:meth:`loss`). Scores are dot products of the
    user and item embeddings of :meth:`forward`, so that every model is
    ranked by the same exact evaluation as RMBRec.

    Subclasses implement :meth:`forward` and :meth:`loss`, and list their
    extra constructor arguments in :meth:`hparams`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        behaviors (Sequence[str]): The behaviors the model uses; the
            sampler's :obj:`[N, B]` triples follow this order.
        target (str): The target behavior.
        embedding_dim (int): Embedding size. (default: :obj:`64`)
        init_std (float, optional): Std of a normal initialisation, or
            :obj:`None` for Xavier-uniform. (default: :obj:`None`)
        sparse_backend (str): See :class:`~rmbrec_pyg.nn.
            MultiBehaviorEncoder`. (default: :obj:`'torch'`)
        reg (float): Weight of the model's L2 term (each model's own form
            of it). (default: :obj:`0.0`)
    """
    #: Fields a :class:`~rmbrec_pyg.train.Trainer` reads off RMBRec's
    #: encoder; a baseline has none of RMBRec's extensions.
    fusion = None
    target_tower = None
    blend = None
    #: Epochs of pre-training before the main training (see
    #: :func:`~rmbrec_pyg.train.pretrain.pretrain_embeddings`); a model that
    #: sets it defines :obj:`pretrain_loss` and :obj:`pretrain_embedding`.
    pretrain_epochs = 0
    build_adjacency = staticmethod(MultiBehaviorEncoder.build_adjacency)

    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 embedding_dim: int = 64, init_std: Optional[float] = None,
                 sparse_backend: str = 'torch', reg: float = 0.0) -> None:
        super().__init__()
        name = self.__class__.__name__
        check_sizes(name, num_users, num_items, embedding_dim)
        if target not in behaviors:
            raise ValueError(f"target '{target}' is not among the behaviors "
                             f"{list(behaviors)} of '{name}'")
        self.num_users, self.num_items = num_users, num_items
        self.behaviors: List[str] = list(behaviors)
        self.target = target
        self.target_index = self.behaviors.index(target)
        self.embedding_dim = embedding_dim
        self.init_std = init_std
        self.sparse_backend = sparse_backend
        self.reg = reg
        self.user_embedding = Embedding(num_users, embedding_dim)
        self.item_embedding = Embedding(num_items, embedding_dim)
        self.conv = BehaviorConv()

    def reset_parameters(self) -> None:
        xavier_or_normal(self.user_embedding.weight, self.init_std)
        xavier_or_normal(self.item_embedding.weight, self.init_std)

    @property
    def fused(self) -> bool:
        return False

    @fused.setter
    def fused(self, value: bool) -> None:
        pass  # nothing fused: every model here is twice differentiable

    def per_behavior(self, value: PerBehavior, b: str, what: str) -> float:
        r"""The setting :obj:`value` of behavior :obj:`b`: a number for all
        behaviors, or a mapping with an optional ``'default'``."""
        if isinstance(value, (int, float)):
            return value
        if b in value:
            return value[b]
        if 'default' in value:
            return value['default']
        raise ValueError(f"no {what} for behavior '{b}' in "
                         f"'{self.__class__.__name__}' (got {dict(value)})")

    def layer_count(self, layers: Layers, b: str) -> int:
        r"""The number of layers of behavior :obj:`b` (see
        :meth:`per_behavior`)."""
        return int(self.per_behavior(layers, b, 'layer count'))

    def graph(self, adj_dict: Mapping[Key, Any], b: str) -> Any:
        r"""The normalised adjacency of behavior :obj:`b`."""
        return behavior_graph(adj_dict, b, self.__class__.__name__)

    def base(self) -> Tensor:
        r"""The stacked base embeddings :obj:`[U + I, F]`, users first."""
        return torch.cat([self.user_embedding.weight,
                          self.item_embedding.weight])

    def split(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Splits stacked node rows into users and items."""
        user, item = x.split([self.num_users, self.num_items])
        return user, item

    def get_embedding(self, adj_dict: Mapping[Key, Any],
                      weights: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        r"""The user and item embeddings whose dot products are the target
        scores (:obj:`weights` is RMBRec's and ignored)."""
        return self(adj_dict)

    def forward(self, adj_dict: Mapping[Key, Any]
                ) -> Tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, adj_dict: Mapping[Key, Any], users: Tensor, pos: Tensor,
             neg: Tensor, mask: Tensor
             ) -> Tuple[Tensor, Dict[str, Tensor]]:  # pragma: no cover
        r"""The model's loss of one batch: :obj:`(total, terms)`, with the
        same batch as :class:`~rmbrec_pyg.objective.Objective` (:obj:`[N]`
        users; :obj:`[N, B]` positives, negatives and the mask of users
        having each behavior)."""
        raise NotImplementedError

    def fusion_weights(self) -> Optional[Tensor]:
        return None

    def demote_users(self) -> Optional[Tensor]:
        return None

    def hparams(self) -> Dict[str, Any]:
        r"""The subclass's own constructor arguments, as plain data."""
        return {}

    def config(self) -> Dict[str, Any]:
        r"""The constructor arguments as plain data and the model's name
        (``'model'``), for checkpoints (see
        :func:`~rmbrec_pyg.nn.model_from_config`)."""
        return {'model': self.__class__.__name__,
                'num_users': self.num_users, 'num_items': self.num_items,
                'behaviors': list(self.behaviors), 'target': self.target,
                'embedding_dim': self.embedding_dim,
                'init_std': self.init_std,
                'sparse_backend': self.sparse_backend, 'reg': self.reg,
                **self.hparams()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]
                    ) -> 'MultiBehaviorBaseline':
        config = {k: v for k, v in config.items() if k != 'model'}
        return cls(**config)

    def __repr__(self) -> str:
        extra = ', '.join(f'{k}={v}' for k, v in self.hparams().items())
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, behaviors={self.behaviors}, '
                f"target='{self.target}', "
                f'embedding_dim={self.embedding_dim}, {extra})')


class CascadeBaseline(MultiBehaviorBaseline):
    r"""A baseline whose behaviors are chained in cascade order (see
    :func:`cascade_order`), each with its own number of propagation layers.

    Args:
        num_users, num_items, behaviors, target: See
            :class:`MultiBehaviorBaseline`.
        num_layers (int or Mapping[str, int]): Layers per behavior, with an
            optional ``'default'``. (default: :obj:`1`)
        order (Sequence[str], optional): The cascade order (default: the
            funnel order of :func:`cascade_order`).
        **kwargs (optional): More arguments of
            :class:`MultiBehaviorBaseline`.
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], target: str,
                 num_layers: Layers = 1,
                 order: Optional[Sequence[str]] = None,
                 **kwargs: Any) -> None:
        super().__init__(num_users, num_items, behaviors, target, **kwargs)
        self.order = cascade_order(self.behaviors, target, order)
        self.num_layers = num_layers if isinstance(num_layers, int) \
            else dict(num_layers)
        for b in self.order:
            self.layer_count(self.num_layers, b)  # fails early if missing

    def hparams(self) -> Dict[str, Any]:
        return {'num_layers': self.num_layers, 'order': list(self.order)}
