import copy
import math
import warnings
import weakref
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.nn.models.lightgcn import BPRLoss
from torch_geometric.typing import Adj, OptTensor

from rmbrec_pyg.nn.adj_input import (as_edge_index, sparse_entries,
                                     user_item_pairs)
from rmbrec_pyg.nn.edge_types import EdgeType, behavior_edge_types
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.nn.joint_embedding import JointEmbedding
from rmbrec_pyg.nn.lightgcn_terms import RobustnessTerms
from rmbrec_pyg.regularizers.orm import ORM
from rmbrec_pyg.regularizers.rrm import RRM

_NONE = object()  # the cache key of an argument that was None


def _weak(t: Any) -> Any:
    if t is None:
        return _NONE
    try:
        return weakref.ref(t)
    except TypeError:  # not weak-referenceable: never a cache hit
        return None


class MultiBehaviorLightGCN(RobustnessTerms, Module):
    r"""RMBRec's multi-behavior encoder behind the interface of PyG's
    :class:`~torch_geometric.nn.models.LightGCN`, so that code written for
    that model trains a multi-behavior one by changing the constructor.

    The nodes are numbered as in PyG's homogeneous LightGCN recipes: users
    :obj:`0..U-1`, then items :obj:`U..U+I-1`. The constructor takes a
    multi-behavior :class:`~torch_geometric.data.HeteroData` and keeps every
    *auxiliary* behavior graph; the :obj:`edge_index` passed to each call
    (as to LightGCN) is the *target* behavior's training graph, in that
    homogeneous numbering, one or both directions. The embeddings are the
    mean of the behavior towers (paper Eq. 8).

    Beyond LightGCN: :meth:`recommend` can leave out the items a user has
    already bought; :meth:`contrastive_loss` is RMBRec's RRM term over a
    batch of users and :meth:`robustness_loss` its ORM term over the
    per-behavior losses of :meth:`behavior_losses` (add them to
    :meth:`recommendation_loss`; ``examples/own_loop.py``). Without this
    class, :mod:`rmbrec_pyg.regularizers.functional` computes both from
    plain tensors.

    Args:
        data (HeteroData): A multi-behavior graph: the edge types between
            one source (user) and one destination (item) node type, under
            any names, with or without the reverse edge types of
            :class:`~torch_geometric.transforms.ToUndirected` (see
            :func:`behavior_edge_types`).
        embedding_dim (int): Embedding size. (default: :obj:`64`)
        num_layers (int): Propagation layers. (default: :obj:`3`)
        target (str or Tuple[str, str, str], optional): The target
            behavior's edge type or relation name. (default:
            ``data.target``, or the only edge type)
        layer_combination (str): ``'mean'`` (LightGCN) or
            ``'normalized_sum'`` (the RMBRec authors'). (default:
            :obj:`'mean'`)
        rrm_weight (float): :math:`\lambda_1` of :meth:`contrastive_loss`.
            (default: :obj:`1.0`)
        orm_weight (float): :math:`\lambda_2` of :meth:`robustness_loss`.
            (default: :obj:`1.0`)
        init (str): ``'normal'`` (this package's, std 0.1) or ``'pyg'``
            (PyG's LightGCN: Xavier-uniform over the users-and-items
            matrix). (default: :obj:`'normal'`)
        alpha (float or Tensor, optional): PyG LightGCN's layer weights,
            one number or :obj:`num_layers + 1`. (default: :obj:`None`,
            :math:`1 / (L + 1)` each with :obj:`layer_combination='mean'`,
            as PyG's default)
        **kwargs (optional): More arguments of
            :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder`.
    """
    def __init__(self, data: Any, embedding_dim: int = 64,
                 num_layers: int = 3,
                 target: Union[str, EdgeType, None] = None,
                 layer_combination: str = 'mean',
                 rrm_weight: float = 1.0, orm_weight: float = 1.0,
                 init: str = 'normal',
                 alpha: Union[float, Tensor, None] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        if init not in ('normal', 'pyg'):
            raise ValueError(f"'init' must be 'normal' or 'pyg' (got "
                             f'{init!r})')
        self.target_edge_type, types = behavior_edge_types(data, target)
        src, _, dst = self.target_edge_type
        self.node_types = (src, dst)
        self.num_users = int(data[src].num_nodes)
        self.num_items = int(data[dst].num_nodes)
        self.num_nodes = self.num_users + self.num_items
        self.target = self.target_edge_type[1]
        behaviors = [t[1] for t in types]
        self.init = init
        self.encoder = MultiBehaviorEncoder(
            self.num_users, self.num_items, behaviors,
            embedding_dim, num_layers, layer_combination, alpha=alpha,
            **kwargs)
        self.aux = [b for b in behaviors if b != self.target]
        adj = MultiBehaviorEncoder.build_adjacency(
            {b: data[src, b, dst].edge_index for b in self.aux},
            self.num_users, self.num_items)
        for b, a in adj.items():  # buffers follow .to(device)
            self.register_buffer(f'adj_{b}', a, persistent=False)
        self.register_buffer('bought', data[src, self.target, dst].edge_index,
                             persistent=False)
        self.rrm = RRM(rrm_weight)
        self.orm = ORM(orm_weight)
        self._cache: Dict[str, Any] = {}
        self._last: Optional[Tensor] = None
        self._last_items: Optional[Tensor] = None
        self.edges = {b: data[src, b, dst].edge_index for b in behaviors}
        if init == 'pyg':
            self.reset_parameters()

    @property
    def embedding_dim(self) -> int:
        return self.encoder.embedding_dim

    @property
    def num_layers(self) -> int:
        return self.encoder.num_layers

    @property
    def alpha(self) -> Tensor:
        r"""The :obj:`[L + 1]` layer weights, as PyG LightGCN's buffer
        (with :obj:`layer_combination='normalized_sum'` and no
        :obj:`alpha`: ones, the authors' sum of normalised layers)."""
        if self.encoder.alpha is not None:
            return self.encoder.alpha
        weight = self.encoder.user_embedding.weight
        value = 1.0 / (self.num_layers + 1) \
            if self.encoder.layer_combination == 'mean' else 1.0
        return torch.full((self.num_layers + 1, ), value,
                          dtype=weight.dtype, device=weight.device)

    @property
    def embedding(self) -> JointEmbedding:
        r"""PyG LightGCN's :obj:`embedding` (the :obj:`[U + I, F]` base
        embeddings of users, then items): a view of the encoder's two
        tables, see :class:`JointEmbedding`."""
        return JointEmbedding(self.encoder.user_embedding,
                              self.encoder.item_embedding)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module (with
        ``init='pyg'``, as PyG's LightGCN: Xavier-uniform over the
        :obj:`[U + I, F]` matrix of users and items)."""
        self.encoder.reset_parameters()
        if self.init == 'pyg':
            bound = math.sqrt(6.0 / (self.num_nodes + self.embedding_dim))
            for emb in (self.encoder.user_embedding,
                        self.encoder.item_embedding):
                torch.nn.init.uniform_(emb.weight, -bound, bound)

    def _graph_digests(self) -> Dict[str, str]:
        if getattr(self, '_digests', None) is None:
            from rmbrec_pyg.utils.digest import tensor_digest
            self._digests = {'nodes': f'{self.num_users}x{self.num_items}',
                             **{b: tensor_digest(e)
                                for b, e in self.edges.items()}}
        return self._digests

    def get_extra_state(self) -> Dict[str, Any]:
        r"""Saved in :meth:`state_dict`: checksums of the graphs the model
        was built on, so that weights loaded into a model of other graphs
        are noticed (see :meth:`set_extra_state`)."""
        return {'graphs': dict(self._graph_digests())}

    def set_extra_state(self, state: Any) -> None:
        r"""Warns when the weights being loaded were trained on other
        graphs (other users, items or edges): they would score differently
        here."""
        saved = state.get('graphs') if isinstance(state, dict) else None
        if isinstance(saved, dict) and saved != self._graph_digests():
            from rmbrec_pyg.utils.digest import changed_keys
            changed = sorted(changed_keys(saved, self._digests))
            warnings.warn(f'{self.__class__.__name__}: the loaded weights '
                          f'were trained on other graphs ({", ".join(changed)}'
                          ' differ); they will score differently here',
                          stacklevel=2)

    def __deepcopy__(self, memo: Dict[int, Any]) -> 'MultiBehaviorLightGCN':
        # Sparse CSR buffers have no storage that deepcopy could copy: they
        # are cloned. The target-graph cache and the last forward's towers
        # (part of an autograd graph) are not copied.
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key == '_buffers':
                value = {n: b.clone() if b is not None and
                         b.layout != torch.strided else
                         copy.deepcopy(b, memo) for n, b in value.items()}
            elif key == '_cache':
                value = {}
            elif key in ('_last', '_last_items'):
                value = None
            else:
                value = copy.deepcopy(value, memo)
            new.__dict__[key] = value
        return new

    def _cache_hit(self, tensors: Any) -> bool:
        cached = self._cache.get('key')
        if cached is None:
            return False
        for t, (ref, version) in zip(tensors, cached):
            if t is None or ref is _NONE:
                if not (t is None and ref is _NONE):
                    return False
            elif ref is None or ref() is not t or version is None or \
                    getattr(t, '_version', None) != version:
                return False
        return True

    def _target_adjacency(self, edge_index: Adj,
                          edge_weight: OptTensor = None) -> Any:
        # Normalise the target graph once per (edge_index, edge_weight):
        # the same objects (weak references, so a new one at a freed
        # address is not taken for it) at the same versions (an in-place
        # edit bumps them).
        tensors = (edge_index, edge_weight)
        if not self._cache_hit(tensors):
            name = self.__class__.__name__
            index, weight = as_edge_index(edge_index, self.num_nodes, name,
                                          edge_weight)
            pairs, weight = user_item_pairs(index, self.num_users,
                                            self.num_items, name, weight)
            graph = pairs if weight is None else (pairs, weight)
            adj = MultiBehaviorEncoder.build_adjacency(
                {self.target: graph}, self.num_users, self.num_items,
                device=index.device)[self.target]
            self._cache = {'key': [(_weak(t), getattr(t, '_version', None))
                                   for t in tensors], 'adj': adj}
        return self._cache['adj']

    @torch.compiler.disable
    def _propagate(self, edge_index: Adj, edge_weight: OptTensor = None
                   ) -> Tuple[Tensor, Tensor]:
        # The sparse part, run eagerly under torch.compile (which takes no
        # sparse tensors): one graph break, and the fusion, scores and
        # losses around it compile.
        adj = {b: getattr(self, f'adj_{b}') for b in self.aux}
        adj[self.target] = self._target_adjacency(edge_index, edge_weight)
        dtype = self.encoder.user_embedding.weight.dtype
        # .double() / .to(bfloat16) leave sparse buffers as they are: the
        # graphs follow the embeddings' dtype here
        adj = {b: a.to(dtype) if isinstance(a, Tensor) and
               a.is_floating_point() and a.dtype != dtype else a
               for b, a in adj.items()}
        return self.encoder(adj)

    def get_embedding(self, edge_index: Adj,
                      edge_weight: OptTensor = None) -> Tensor:
        r"""The embedding of every node, :obj:`[U + I, F]` (users first).
        :obj:`edge_weight` (or the values of a sparse :obj:`edge_index`)
        weighs the target graph's edges in its normalisation, as
        :class:`~torch_geometric.nn.conv.LGConv` does; each user-item pair
        takes the mean weight of its edges, so that a graph given in both
        directions counts each pair once."""
        users, items = self._propagate(edge_index, edge_weight)
        self._last, self._last_items = users, items
        zu, zi = self.encoder.fuse(users, items)
        return torch.cat([zu, zi])

    def forward(self, edge_index: Adj, edge_label_index: OptTensor = None,
                edge_weight: OptTensor = None) -> Tensor:
        r"""Scores of the node pairs of :obj:`edge_label_index` (default:
        the edges of :obj:`edge_index`), as LightGCN's forward."""
        if edge_label_index is None:
            edge_label_index = edge_index if isinstance(edge_index, Tensor) \
                and edge_index.layout == torch.strided else \
                sparse_entries(edge_index, self.__class__.__name__)[0]
        out = self.get_embedding(edge_index, edge_weight)
        return (out[edge_label_index[0]] * out[edge_label_index[1]]).sum(-1)

    def predict_link(self, edge_index: Adj, edge_label_index: OptTensor = None,
                     edge_weight: OptTensor = None,
                     prob: bool = False) -> Tensor:
        r"""Link probabilities (or their rounding), as LightGCN's."""
        pred = self(edge_index, edge_label_index, edge_weight).sigmoid()
        return pred if prob else pred.round()

    def recommend(self, edge_index: Adj, edge_weight: OptTensor = None,
                  src_index: OptTensor = None, dst_index: OptTensor = None,
                  k: int = 1, sorted: bool = True,
                  exclude_bought: bool = False) -> Tensor:
        r"""Top-:obj:`k` nodes of :obj:`dst_index` (default: every item)
        for each node of :obj:`src_index` (default: every user), as
        LightGCN's :meth:`recommend` (but items only by default).

        Args:
            exclude_bought (bool): Leave out the items each user bought in
                the training data the model was built from.
                (default: :obj:`False`)
        """
        out = self.get_embedding(edge_index, edge_weight)
        src = torch.arange(self.num_users, device=out.device) \
            if src_index is None else src_index
        dst = torch.arange(self.num_users, self.num_nodes,
                           device=out.device) if dst_index is None \
            else dst_index
        if k > dst.numel():  # PyG's LightGCN fails here too, less clearly
            raise ValueError(f"'k' ({k}) is larger than the number of "
                             f'candidate items ({dst.numel()})')
        pred = out[src] @ out[dst].t()
        if exclude_bought:
            # per distinct source, so that a repeated one is masked in
            # every row it has
            uniq, row_of = torch.unique(src, return_inverse=True)
            users, items = self.bought
            pos_src = torch.full((self.num_nodes, ), -1, dtype=torch.long,
                                 device=out.device)
            pos_src[uniq] = torch.arange(uniq.numel(), device=out.device)
            pos_dst = torch.full_like(pos_src, -1)
            pos_dst[dst] = torch.arange(dst.numel(), device=out.device)
            r, c = pos_src[users], pos_dst[items + self.num_users]
            keep = (r >= 0) & (c >= 0)
            mask = torch.zeros(uniq.numel(), dst.numel(), dtype=torch.bool,
                               device=out.device)
            mask[r[keep], c[keep]] = True
            pred = pred.masked_fill(mask[row_of], float('-inf'))
        top = pred.topk(k, dim=-1, sorted=sorted).indices
        return dst[top]

    def link_pred_loss(self, pred: Tensor, edge_label: Tensor,
                       **kwargs: Any) -> Tensor:
        r"""Binary cross-entropy of link predictions, as LightGCN's."""
        loss_fn = torch.nn.BCEWithLogitsLoss(**kwargs)
        return loss_fn(pred, edge_label.to(pred.dtype))

    def recommendation_loss(self, pos_edge_rank: Tensor,
                            neg_edge_rank: Tensor,
                            node_id: Optional[Tensor] = None,
                            lambda_reg: float = 1e-4,
                            **kwargs: Any) -> Tensor:
        r"""BPR with an L2 term on the base embeddings of :obj:`node_id`,
        as LightGCN's."""
        emb = torch.cat([self.encoder.user_embedding.weight,
                         self.encoder.item_embedding.weight])
        emb = emb if node_id is None else emb[node_id]
        return BPRLoss(lambda_reg, **kwargs)(pos_edge_rank, neg_edge_rank,
                                             emb)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_nodes}, '
                f'{self.embedding_dim}, num_layers={self.num_layers}, '
                f'behaviors={self.encoder.behaviors})')
