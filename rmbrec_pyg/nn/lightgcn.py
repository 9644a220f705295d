from typing import Any, Dict, Optional

import weakref

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.nn.models.lightgcn import BPRLoss
from torch_geometric.typing import Adj, OptTensor

from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.regularizers.base import RegularizerInput
from rmbrec_pyg.regularizers.rrm import RRM


class MultiBehaviorLightGCN(Module):
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
    already bought, and :meth:`contrastive_loss` is RMBRec's RRM term over
    a batch of users (add it to :meth:`recommendation_loss` to train with
    it; ORM needs per-behavior triples, see
    :class:`~rmbrec_pyg.objective.Objective`).

    Args:
        data (HeteroData): A multi-behavior graph of this package (see
            :func:`~rmbrec_pyg.data.build_hetero_data`).
        embedding_dim (int): Embedding size. (default: :obj:`64`)
        num_layers (int): Propagation layers. (default: :obj:`3`)
        layer_combination (str): ``'mean'`` (LightGCN) or
            ``'normalized_sum'`` (the RMBRec authors'). (default:
            :obj:`'mean'`)
        rrm_weight (float): :math:`\lambda_1` of :meth:`contrastive_loss`.
            (default: :obj:`1.0`)
        **kwargs (optional): More arguments of
            :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder`.
    """
    def __init__(self, data: Any, embedding_dim: int = 64,
                 num_layers: int = 3, layer_combination: str = 'mean',
                 rrm_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__()
        self.num_users = int(data['user'].num_nodes)
        self.num_items = int(data['item'].num_nodes)
        self.num_nodes = self.num_users + self.num_items
        self.target = str(data.target)
        self.encoder = MultiBehaviorEncoder(
            self.num_users, self.num_items, list(data.behaviors),
            embedding_dim, num_layers, layer_combination, **kwargs)
        self.aux = [b for b in data.behaviors if b != self.target]
        adj = MultiBehaviorEncoder.build_adjacency(
            {b: data['user', b, 'item'].edge_index for b in self.aux},
            self.num_users, self.num_items)
        for b, a in adj.items():  # buffers follow .to(device)
            self.register_buffer(f'adj_{b}', a, persistent=False)
        self.register_buffer('bought',
                             data['user', self.target, 'item'].edge_index,
                             persistent=False)
        self.rrm = RRM(rrm_weight)
        self._cache: Dict[str, Any] = {}
        self._last: Optional[Tensor] = None

    @property
    def embedding_dim(self) -> int:
        return self.encoder.embedding_dim

    @property
    def num_layers(self) -> int:
        return self.encoder.num_layers

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.encoder.reset_parameters()

    def _target_adjacency(self, edge_index: Adj) -> Any:
        # Normalise the target graph once per edge_index: the same tensor
        # object (a weak reference, so a new tensor at a freed address is
        # not taken for it) at the same version (an in-place edit bumps
        # it).
        ref = self._cache.get('ref')
        if ref is None or ref() is not edge_index or \
                self._cache.get('version') != edge_index._version:
            u, v = edge_index
            users = torch.where(u < self.num_users, u, v)
            items = torch.where(u < self.num_users, v, u) - self.num_users
            keys = torch.unique(users * self.num_items + items)
            pairs = torch.stack([keys // self.num_items,
                                 keys % self.num_items])
            self._cache = {'ref': weakref.ref(edge_index),
                           'version': edge_index._version,
                           'adj': MultiBehaviorEncoder
                           .build_adjacency({self.target: pairs},
                                            self.num_users, self.num_items,
                                            device=edge_index.device)
                           [self.target]}
        return self._cache['adj']

    def get_embedding(self, edge_index: Adj,
                      edge_weight: OptTensor = None) -> Tensor:
        r"""The embedding of every node, :obj:`[U + I, F]` (users first)."""
        if edge_weight is not None:
            raise ValueError(f"'edge_weight' is not supported by "
                             f"'{self.__class__.__name__}' (every behavior "
                             f'graph is normalised as LightGCN does)')
        adj = {b: getattr(self, f'adj_{b}') for b in self.aux}
        adj[self.target] = self._target_adjacency(edge_index)
        users, items = self.encoder(adj)
        self._last = users
        zu, zi = self.encoder.fuse(users, items)
        return torch.cat([zu, zi])

    def forward(self, edge_index: Adj, edge_label_index: OptTensor = None,
                edge_weight: OptTensor = None) -> Tensor:
        r"""Scores of the node pairs of :obj:`edge_label_index` (default:
        the edges of :obj:`edge_index`), as LightGCN's forward."""
        if edge_label_index is None:
            edge_label_index = edge_index
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
        pred = out[src] @ out[dst].t()
        if exclude_bought:
            users, items = self.bought
            pos_src = torch.full((self.num_nodes, ), -1, dtype=torch.long,
                                 device=out.device)
            pos_src[src] = torch.arange(src.numel(), device=out.device)
            pos_dst = torch.full_like(pos_src, -1)
            pos_dst[dst] = torch.arange(dst.numel(), device=out.device)
            r, c = pos_src[users], pos_dst[items + self.num_users]
            keep = (r >= 0) & (c >= 0)
            pred[r[keep], c[keep]] = float('-inf')
        top = pred.topk(min(k, dst.numel()), dim=-1, sorted=sorted).indices
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

    def contrastive_loss(self, user_index: Tensor) -> Tensor:
        r"""RMBRec's RRM term (weighted by :obj:`rrm_weight`) over the
        behavior towers of :obj:`user_index`, from the last
        :meth:`get_embedding` (or forward) call."""
        if self._last is None:
            raise RuntimeError('call forward() or get_embedding() first')
        users = self._last[torch.unique(user_index[user_index <
                                                   self.num_users])]
        behaviors = self.encoder.behaviors
        inputs = RegularizerInput(
            user_emb=users, behavior_losses=users.new_zeros(len(behaviors)),
            score_diffs=users.new_zeros(users.size(0), len(behaviors)),
            mask=torch.ones(users.size(0), len(behaviors), dtype=torch.bool,
                            device=users.device),
            target_index=behaviors.index(self.target), behaviors=behaviors)
        return self.rrm.weight * self.rrm(inputs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_nodes}, '
                f'{self.embedding_dim}, num_layers={self.num_layers}, '
                f'behaviors={self.encoder.behaviors})')
