from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
from torch import Tensor
from torch.nn import Embedding, Module

from rmbrec_pyg.graph.adjacency import SPARSE_BACKENDS, normalized_adjacency
from rmbrec_pyg.nn.adj_input import (bipartite_input, describe,
                                     hetero_graphs)
from rmbrec_pyg.nn.behavior_conv import BehaviorConv
from rmbrec_pyg.nn.fusion import AdaptiveFusion
from rmbrec_pyg.nn.blend import ScoreBlend
from rmbrec_pyg.nn.gather import gather_nodes, gather_rows
from rmbrec_pyg.nn.target_tower import TargetTower

Key = Union[str, Tuple[str, str, str]]
LAYER_COMBINATIONS = ('mean', 'normalized_sum')


def check_sizes(name: str, num_users: int, num_items: int,
                embedding_dim: int) -> None:
    r"""Raises :class:`ValueError` naming the module :obj:`name` unless the
    node counts and the embedding size are positive."""
    if num_users <= 0 or num_items <= 0:
        raise ValueError(f"'num_users' and 'num_items' must be positive "
                         f"in '{name}' (got {num_users}, {num_items})")
    if embedding_dim <= 0:
        raise ValueError(f"'embedding_dim' must be positive in '{name}' "
                         f'(got {embedding_dim})')


def behavior_graph(adj_dict: Mapping[Key, Any], b: str, name: str) -> Any:
    r"""The graph of behavior :obj:`b` in :obj:`adj_dict`, keyed by the
    behavior or by an edge type :obj:`(src, b, dst)` under any node type
    names."""
    if b in adj_dict:
        return adj_dict[b]
    if ('user', b, 'item') in adj_dict:
        return adj_dict[('user', b, 'item')]
    match = [k for k in adj_dict if isinstance(k, tuple) and len(k) == 3
             and k[1] == b]
    if len(match) == 1:
        return adj_dict[match[0]]
    raise KeyError(f"no graph for behavior '{b}' in '{name}' (got keys "
                   f'{list(adj_dict)})')


def layer_weights(alpha: Union[float, Sequence[float], Tensor],
                  num_layers: int, name: str) -> Tensor:
    r"""PyG LightGCN's :obj:`alpha` as a :obj:`[L + 1]` float tensor: one
    number repeated for every layer, or :obj:`L + 1` of them."""
    if isinstance(alpha, (int, float)):
        return torch.full((num_layers + 1, ), float(alpha))
    weights = torch.as_tensor(alpha, dtype=torch.float).flatten()
    if weights.numel() != num_layers + 1:
        raise ValueError(f"'alpha' must hold num_layers + 1 = "
                         f'{num_layers + 1} layer weights in {name!r} (got '
                         f'{weights.numel()})')
    return weights


class MultiBehaviorEncoder(Module):
    r"""The multi-behavior encoder of `"RMBRec: Robust Multi-Behavior
    Recommendation towards Target Behaviors" (WWW 2026)
    <https://github.com/miaomiao-cai2/RMBRec>`_ (paper Eq. 1 and 8): one
    LightGCN propagation per behavior graph :math:`\mathbf{R}^{(b)}`, all
    over shared base embeddings :math:`\mathbf{Z}_u, \mathbf{Z}_i`:

    .. math::
        \mathbf{P}^{(b)}, \mathbf{Q}^{(b)} = f(\mathbf{R}^{(b)},
        \mathbf{Z}_u, \mathbf{Z}_i), \qquad
        \mathbf{z}_u = \frac{1}{|\mathcal{B}|}\sum_b \mathbf{p}^{(b)}_u.

    Layer combination ``'mean'`` is LightGCN's
    :math:`\frac{1}{L+1}\sum_{k=0}^{L}\mathbf{X}^{(k)}`; ``'normalized_sum'``
    is the authors' code: every propagated layer is L2-normalised (and
    propagated further normalised) and the layers are summed,
    :math:`\mathbf{X}^{(0)} + \sum_{k=1}^{L}\mathbf{X}^{(k)}`.

    The encoder knows nothing about losses, configs or devices. Pass it a
    mapping from behavior (or edge type :obj:`(src, b, dst)`, any names) to
    the normalised adjacency of :meth:`build_adjacency` (recommended: built
    once), or to an unnormalised graph, normalised on every call: a
    :obj:`[2, E]` :obj:`(user, item)` index, an :obj:`(edge_index,
    edge_weight)` pair, or a sparse :obj:`[U, I]` adjacency (torch.sparse or
    :class:`SparseTensor`, values as weights). A
    :class:`~torch_geometric.data.HeteroData` works too (its behavior edge
    types, their :obj:`edge_weight` where stored).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        behaviors (Sequence[str]): Behavior names, in output order.
        embedding_dim (int): Embedding size. (default: :obj:`64`)
        num_layers (int): Propagation layers. (default: :obj:`3`)
        layer_combination (str): ``'mean'`` or ``'normalized_sum'``.
            (default: :obj:`'normalized_sum'`)
        init_std (float): Std of the normal initialisation.
            (default: :obj:`0.1`)
        fused (bool): With ``'normalized_sum'``, run each propagation and
            its normalisation as one autograd node (faster, but not twice
            differentiable; set :obj:`False` for penalties on gradients such
            as IRMv2). (default: :obj:`True`)
        fusion (AdaptiveFusion, optional): Behavior weights for
            :meth:`fuse`; part of the module's state. (default: :obj:`None`,
            the plain mean of paper Eq. 8)
        sparse_backend (str): The adjacency that :meth:`build_adjacency`
            makes for this encoder: ``'torch'`` (CSR) or ``'torch_sparse'``.
            (default: :obj:`'torch'`)
        conv (MessagePassing, optional): The propagation layer, run
            :obj:`num_layers` times per behavior. (default:
            :class:`BehaviorConv` normalising its output when
            :obj:`layer_combination='normalized_sum'`)
        alpha (float or Tensor, optional): Layer weights, as PyG's
            LightGCN: the output is :math:`\sum_{k=0}^{L} \alpha_k
            \mathbf{X}^{(k)}`, one number for every layer or a tensor of
            :obj:`L + 1` (stored in the state). (default: :obj:`None`, the
            weights of :obj:`layer_combination`)

    Shapes:
        - **input:** mapping of :math:`|\mathcal{B}|` adjacencies
        - **output:** user embeddings :math:`(|\mathcal{U}|, |\mathcal{B}|,
          F)`, item embeddings :math:`(|\mathcal{I}|, |\mathcal{B}|, F)`
    """
    def __init__(self, num_users: int, num_items: int,
                 behaviors: Sequence[str], embedding_dim: int = 64,
                 num_layers: int = 3,
                 layer_combination: str = 'normalized_sum',
                 init_std: float = 0.1, fused: bool = True,
                 fusion: Optional[AdaptiveFusion] = None,
                 sparse_backend: str = 'torch',
                 conv: Optional[Module] = None,
                 alpha: Union[float, Sequence[float], Tensor, None] = None
                 ) -> None:
        super().__init__()
        name = self.__class__.__name__
        check_sizes(name, num_users, num_items, embedding_dim)
        if num_layers < 0:
            raise ValueError(f"'num_layers' must be >= 0 in '{name}' "
                             f'(got {num_layers})')
        if layer_combination not in LAYER_COMBINATIONS:
            raise ValueError(f"'layer_combination' must be one of "
                             f"{LAYER_COMBINATIONS} in '{name}' "
                             f'(got {layer_combination!r})')
        if len(behaviors) == 0:
            raise ValueError(f"'behaviors' must not be empty in '{name}'")
        if sparse_backend not in SPARSE_BACKENDS:
            raise ValueError(f"'sparse_backend' must be one of "
                             f"{SPARSE_BACKENDS} in '{name}' "
                             f'(got {sparse_backend!r})')
        if fusion is not None and list(fusion.behaviors) != list(behaviors):
            raise ValueError(f"'fusion' is over {fusion.behaviors}, not the "
                             f"behaviors {list(behaviors)} of '{name}'")
        self.num_users = num_users
        self.num_items = num_items
        self.behaviors: List[str] = list(behaviors)
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.layer_combination = layer_combination
        self.init_std = init_std
        self.sparse_backend = sparse_backend
        self.user_embedding = Embedding(num_users, embedding_dim)
        self.item_embedding = Embedding(num_items, embedding_dim)
        self.conv = conv if conv is not None else BehaviorConv(
            normalize_output=layer_combination == 'normalized_sum',
            fused=fused)
        self.fusion = fusion
        if alpha is not None:
            self.register_buffer('alpha', layer_weights(alpha, num_layers,
                                                        name))
        else:
            self.alpha: Optional[Tensor] = None
        #: Optional target-only tower and per-user score blend (see
        #: :class:`~rmbrec_pyg.nn.TargetTower`); set after construction.
        self.target_tower: Optional[TargetTower] = None
        self.blend: Optional[ScoreBlend] = None
        self.reset_parameters()

    @property
    def fused(self) -> bool:
        r"""Whether the layer propagates and normalises in one autograd node
        (see :class:`BehaviorConv`)."""
        return bool(getattr(self.conv, 'fused', False))

    @fused.setter
    def fused(self, value: bool) -> None:
        if hasattr(self.conv, 'fused'):
            self.conv.fused = bool(value)

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        torch.nn.init.normal_(self.item_embedding.weight, std=self.init_std)
        if self.fusion is not None:
            self.fusion.reset_parameters()

    @staticmethod
    def build_adjacency(edge_index_dict: Mapping[Key, Tensor],
                        num_users: int, num_items: int, eps: float = 1e-7,
                        backend: str = 'torch',
                        device: Optional[torch.device] = None
                        ) -> Dict[str, Any]:
        r"""Normalises every behavior graph once (see
        :func:`~rmbrec_pyg.graph.normalized_adjacency`); pass
        :obj:`backend=encoder.sparse_backend` for the encoder's choice.

        :obj:`edge_index_dict` maps behavior names or edge types (any node
        type names) to :obj:`[2, E]` user-item edges, or is a
        :class:`~torch_geometric.data.HeteroData` (its behaviors, see
        :func:`~rmbrec_pyg.nn.edge_types.behavior_edge_types`). The
        reverse edge types of :class:`~torch_geometric.transforms.
        ToUndirected` are left out (the normalisation is symmetric)."""
        from rmbrec_pyg.nn.edge_types import forward_edge_types
        if hasattr(edge_index_dict, 'edge_types'):  # a HeteroData
            edge_index_dict = hetero_graphs(edge_index_dict)
        out = {}
        for key, graph in forward_edge_types(edge_index_dict).items():
            b = key[1] if isinstance(key, tuple) else key
            pair = bipartite_input(graph, num_users, num_items,
                                   'build_adjacency')
            if pair is None:
                raise TypeError(f'build_adjacency: behavior {b!r} must be '
                                'a [2, E] (user, item) index, an '
                                '(edge_index, edge_weight) pair or a sparse '
                                f'[{num_users}, {num_items}] adjacency (got '
                                f'{describe(graph)})')
            out[b] = normalized_adjacency(pair[0], num_users, num_items, eps,
                                          backend, device,
                                          edge_weight=pair[1])
        return out

    def _lookup(self, adj_dict: Mapping[Key, Any], b: str) -> Any:
        return behavior_graph(adj_dict, b, self.__class__.__name__)

    def propagate_behavior(self, adj: Any, x: Tensor) -> Tensor:
        r"""Runs :obj:`num_layers` propagations of one behavior graph over
        the stacked base embeddings :obj:`x` and combines the layers."""
        pair = bipartite_input(adj, self.num_users, self.num_items,
                               self.__class__.__name__)
        if pair is not None:  # unnormalised: normalised here
            adj = normalized_adjacency(pair[0], self.num_users,
                                       self.num_items, device=x.device,
                                       edge_weight=pair[1])
        return self._layers(adj, x)

    def _layers(self, adj: Any, x: Tensor) -> Tensor:
        # The propagation and layer combination over a normalised adjacency
        # (the whole graph's, or a sampled neighbourhood's).
        if self.alpha is not None:
            out = x * self.alpha[0]
            for layer in range(self.num_layers):
                x = self.conv(x, adj)
                out = out + x * self.alpha[layer + 1]
            return out
        out = x
        for layer in range(self.num_layers):
            x = self.conv(x, adj)
            # A new tensor once (never write into the input), then in place.
            out = out + x if layer == 0 else out.add_(x)
        if self.layer_combination == 'mean':
            out = out / (self.num_layers + 1)
        return out

    def forward(self, adj_dict: Mapping[Key, Any],
                user_index: Optional[Tensor] = None,
                item_index: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Returns the per-behavior user and item embeddings, of all nodes
        or, when :obj:`user_index` and :obj:`item_index` are given, only of
        those rows (:obj:`[len(index), B, F]`; cheaper in training, as no
        all-node :obj:`[N, B, F]` tensor is built in forward or backward).
        """
        if hasattr(adj_dict, 'edge_types'):  # a HeteroData
            adj_dict = hetero_graphs(adj_dict)
        if hasattr(adj_dict, 'neighborhood') and user_index is not None \
                and item_index is not None:
            return self._sampled_rows(adj_dict, user_index, item_index)
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        outs = [self.propagate_behavior(self._lookup(adj_dict, b), x)
                for b in self.behaviors]
        if user_index is not None or item_index is not None:
            if user_index is None or item_index is None:
                raise ValueError(f"pass both 'user_index' and 'item_index' "
                                 f"to '{self.__class__.__name__}' or neither")
            index = torch.cat([user_index, item_index + self.num_users])
            if index.is_cuda:  # one gather node, one scatter-add backward
                rows = gather_rows(outs, index)
            else:  # bit for bit the CPU results published so far
                rows = torch.stack([o[index] for o in outs], dim=1)
            return rows.split([user_index.numel(), item_index.numel()])
        # split (not two slices): its backward is one concatenation, where
        # slicing would zero-fill a full-size gradient per slice.
        user, item = torch.stack(outs, dim=1).split(
            [self.num_users, self.num_items])
        return user, item

    def _sampled_rows(self, sampler: Any, user_index: Tensor,
                      item_index: Tensor,
                      base_rows: Optional[Callable[[Tensor], Tensor]] = None
                      ) -> Tuple[Tensor, Tensor]:
        # Sampled propagation (trainer.propagation=sampled): per behavior,
        # only the L-hop neighbourhood of the batch's nodes, with the
        # global normalisation (see rmbrec_pyg.graph.neighborhood).
        # `base_rows` looks the nodes' base embeddings up elsewhere (sharded
        # tables, rmbrec_pyg.train.sharded) instead of in this encoder's.
        index = torch.cat([user_index, item_index + self.num_users])
        seeds, inverse = torch.unique(index, return_inverse=True)
        hoods = [sampler.neighborhood(b, seeds) for b in self.behaviors]
        # one gather for every behavior: one gradient per table
        nodes = torch.cat([h.nodes for h in hoods])
        x = gather_nodes(self.user_embedding.weight,
                         self.item_embedding.weight, nodes,
                         sparse=self.user_embedding.sparse) \
            if base_rows is None else base_rows(nodes)
        xs = x.split([h.nodes.numel() for h in hoods])
        outs = [self._layers(h.adj, xb)[:seeds.numel()]
                for h, xb in zip(hoods, xs)]
        rows = torch.stack(outs, dim=1)[inverse]
        return rows.split([user_index.numel(), item_index.numel()])

    def fusion_weights(self) -> Optional[Tensor]:
        r"""The :obj:`[B]` behavior weights of :obj:`fusion`, or
        :obj:`None` for the plain mean (no fusion, or one whose weights are
        exactly uniform, so that it computes exactly as the mean)."""
        if self.fusion is None or self.fusion.constant_mean:
            return None
        return self.fusion.weights()

    def fuse(self, user_emb: Tensor, item_emb: Tensor,
             weights: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""Fuses per-behavior embeddings :obj:`[N, B, F]` into :obj:`[N, F]`:
        the mean over behaviors (paper Eq. 8), or a weighted sum with
        :obj:`weights` (:obj:`[B]`, summing to one; default:
        :meth:`fusion_weights`)."""
        if weights is None:
            weights = self.fusion_weights()
        if weights is None:
            return user_emb.mean(dim=1), item_emb.mean(dim=1)
        w = weights.view(1, -1, 1)
        return (user_emb * w).sum(dim=1), (item_emb * w).sum(dim=1)

    def get_embedding(self, adj_dict: Mapping[Key, Any],
                      weights: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        r"""Returns the fused user and item embeddings :obj:`[N, F]` (with
        a :obj:`target_tower` and its :obj:`blend`, the blend's concatenated
        :obj:`[N, 2F]` embeddings, whose dot products are the blended
        scores)."""
        zu, zi = self.fuse(*self(adj_dict), weights=weights)
        if self.target_tower is not None and self.blend is not None:
            tu, ti = self.target_tower(self._lookup(
                adj_dict, self.target_tower.target))
            zu, zi = self.blend.concat(zu, zi, tu, ti)
        return zu, zi

    def demote_users(self) -> Optional[Tensor]:
        r""":obj:`[U]` users whose auxiliary items the model ranks last (a
        validation-chosen option of its :obj:`blend`), or :obj:`None`."""
        return None if self.blend is None else self.blend.demote_users()

    def config(self) -> Dict[str, Any]:
        r"""The constructor arguments as plain data (numbers, strings,
        lists), for checkpoints; :meth:`from_config` rebuilds the module.
        A custom :obj:`conv` is not recorded."""
        return {'num_users': self.num_users, 'num_items': self.num_items,
                'behaviors': list(self.behaviors),
                'embedding_dim': self.embedding_dim,
                'num_layers': self.num_layers,
                'layer_combination': self.layer_combination,
                'init_std': self.init_std,
                'sparse_backend': self.sparse_backend,
                'fusion': (None if self.fusion is None else
                           self.fusion.config()),
                'target_tower': (None if self.target_tower is None else
                                 self.target_tower.config()),
                'blend': self.blend is not None,
                **({} if self.alpha is None else
                   {'alpha': self.alpha.tolist()})}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> 'MultiBehaviorEncoder':
        r"""Builds an encoder from :meth:`config` (its weights come from
        :meth:`load_state_dict`)."""
        config = dict(config)
        fusion = config.pop('fusion', None)
        tower = config.pop('target_tower', None)
        blend = config.pop('blend', False)
        if fusion is not None:
            fusion = dict(fusion)
            fusion = AdaptiveFusion(fusion.pop('behaviors'),
                                    torch.tensor(fusion.pop('prior')),
                                    **fusion)
        if config.get('alpha') is not None:
            config['alpha'] = torch.tensor(config['alpha'])
        encoder = cls(**config, fusion=fusion)
        if tower is not None:
            encoder.target_tower = TargetTower(
                encoder.num_users, encoder.num_items, **tower)
        if blend:  # its buffers come from load_state_dict
            encoder.blend = ScoreBlend(torch.zeros(encoder.num_users))
        return encoder

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, behaviors={self.behaviors}, '
                f'embedding_dim={self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f"layer_combination='{self.layer_combination}')")
