r"""Sampled propagation: per step, the :math:`L`-hop neighbourhood of the
batch's nodes in every behavior graph, drawn from the normalised CSR
adjacency the full propagation uses, as a small symmetric sub-adjacency
that keeps the *global* normalisation.

Why it is exact with every neighbour (fanout :obj:`-1`): let
:math:`V_0` be the batch's nodes and :math:`V_h = V_{h-1} \cup
\mathcal{N}(V_{h-1})`. Propagating :math:`L` layers over
:math:`\hat{A}[V_L, V_L]` gives layer :math:`k` exactly on
:math:`V_{L-k}`, because every neighbour of such a node is in
:math:`V_{L-k+1}`, where layer :math:`k - 1` is exact; so all layers are
exact on :math:`V_0`. With a fanout, each node of the frontier keeps at most
that many neighbours (drawn with replacement, repeats dropped); the
sub-adjacency is the symmetric closure of the kept edges, with their global
values (no degrees are computed on the subgraph). Under the authors' layer
combination every layer is L2-normalised per row, so the rescaling by
:math:`d / \text{fanout}` that would unbias a plain sum cannot change it and
is not applied.

Two ways to draw the neighbours (``trainer.neighbor_sampler``): the
default sampler here is pure torch (it runs where ``pyg-lib`` and
``torch_sparse`` are absent, on the adjacency's device, from its own random
stream), drawing :obj:`fanout` neighbours with replacement and dropping
repeats; ``'pyg'`` draws them with PyG's
:class:`~torch_geometric.sampler.NeighborSampler` (``pyg-lib`` or
``torch_sparse``, on the CPU), :obj:`fanout` distinct neighbours, from
torch's global random stream. Both keep the same sub-adjacency with global
values, and both are exact with every neighbour."""
import warnings
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from rmbrec_pyg.data.errors import ConfigError


def pyg_sampler_backend() -> Optional[str]:
    r"""What PyG's :class:`~torch_geometric.sampler.NeighborSampler` would
    sample with here: :obj:`'pyg-lib'`, :obj:`'torch-sparse'` or
    :obj:`None` (neither is importable)."""
    import torch_geometric.typing as pyg_typing
    if pyg_typing.WITH_PYG_LIB:
        return 'pyg-lib'
    if pyg_typing.WITH_TORCH_SPARSE:
        return 'torch-sparse'
    return None


def resolve_neighbor_sampler(name: str, device: torch.device) -> str:
    r"""The sampler a ``trainer.neighbor_sampler`` value stands for:
    :obj:`'auto'` is PyG's where ``pyg-lib`` is importable and the graph is
    on the CPU (PyG samples on the CPU), the pure-torch one otherwise;
    :obj:`'pyg'` without ``pyg-lib`` or ``torch_sparse`` is refused."""
    if name not in ('auto', 'torch', 'pyg'):
        raise ConfigError(f"'trainer.neighbor_sampler' must be 'auto', "
                          f"'torch' or 'pyg' (got {name!r})")
    if name == 'auto':
        return 'pyg' if device.type == 'cpu' and \
            pyg_sampler_backend() == 'pyg-lib' else 'torch'
    if name == 'pyg' and pyg_sampler_backend() is None:
        raise ConfigError("'trainer.neighbor_sampler=pyg' needs pyg-lib or "
                          "torch_sparse, and neither is importable; use "
                          "'torch' (the pure-torch sampler)")
    return name


def _csr_parts(adj: Any) -> Tuple[Tensor, Tensor, Tensor]:
    if isinstance(adj, Tensor) and adj.layout == torch.sparse_csr:
        return adj.crow_indices(), adj.col_indices(), adj.values()
    if hasattr(adj, 'csr'):  # torch_sparse.SparseTensor
        return adj.csr()
    raise TypeError('sampled propagation needs the normalised CSR adjacency '
                    'of build_adjacency (got '
                    f'{type(adj).__name__})')


class Neighborhood:
    r"""The :math:`L`-hop neighbourhood of one behavior graph around a set
    of seed nodes.

    Attributes:
        nodes (Tensor): :obj:`[V]` global node ids, the seeds first.
        adj (Tensor): :obj:`[V, V]` sparse CSR, the symmetric
            sub-adjacency with global values.
    """
    def __init__(self, nodes: Tensor, adj: Tensor) -> None:
        self.nodes, self.adj = nodes, adj


class NeighborhoodSampler:
    r"""Draws the :class:`Neighborhood` of a batch's nodes in every behavior
    graph, for :obj:`num_layers` propagation layers.

    Passed to :class:`~rmbrec_pyg.nn.MultiBehaviorEncoder` in place of the
    adjacency mapping, it makes the encoder's row-gathering forward
    propagate only the neighbourhoods (see
    :mod:`rmbrec_pyg.graph.neighborhood`); indexing it by a behavior gives
    the full adjacency, for the parts of a model that propagate the whole
    graph.

    Args:
        adj (Mapping[str, Tensor]): The normalised adjacency of every
            behavior (:meth:`~rmbrec_pyg.nn.MultiBehaviorEncoder.
            build_adjacency`, CSR).
        num_layers (int): Propagation layers (hops).
        fanout (int or Mapping[str, int]): Neighbours kept per node and
            hop, one number or one per behavior; :obj:`-1` keeps every
            neighbour (exact). (default: :obj:`-1`)
        generator (torch.Generator, optional): Random stream of the draws
            of the pure-torch sampler.
        backend (str): :obj:`'torch'` (the pure-torch sampler) or
            :obj:`'pyg'` (PyG's :class:`~torch_geometric.sampler.
            NeighborSampler`, see :func:`pyg_sampler_backend`).
            (default: :obj:`'torch'`)
    """
    def __init__(self, adj: Mapping[str, Any], num_layers: int,
                 fanout: Union[int, Mapping[str, int]] = -1,
                 generator: Optional[torch.Generator] = None,
                 backend: str = 'torch') -> None:
        self.full = dict(adj)
        self.num_layers = num_layers
        if isinstance(fanout, int):
            fanout = {b: fanout for b in self.full}
        unknown = sorted(set(fanout) - set(self.full))
        if unknown:
            raise ValueError(f'fanout for unknown behaviors {unknown} '
                             f'(behaviors: {sorted(self.full)})')
        self.fanout = {b: int(fanout.get(b, -1)) for b in self.full}
        bad = {b: f for b, f in self.fanout.items() if f == 0 or f < -1}
        if bad:
            raise ValueError(f'a fanout is -1 (every neighbour) or positive '
                             f'(got {bad})')
        self.generator = generator
        self.parts = {b: _csr_parts(a) for b, a in self.full.items()}
        self._local: Dict[str, Tensor] = {}
        if backend not in ('torch', 'pyg'):
            raise ValueError(f"backend is 'torch' or 'pyg' (got {backend!r})")
        self.backend = backend
        self._pyg = {b: self._pyg_sampler(b) for b in self.full} \
            if backend == 'pyg' else {}

    def _pyg_sampler(self, b: str) -> Any:
        # PyG samples the in-neighbours of a CSC graph; the adjacency is
        # symmetric, so its CSR rows are the CSC columns, with the edges in
        # the CSR's order (is_sorted): PyG's edge ids are positions into
        # col / values
        from torch_geometric.data import Data
        from torch_geometric.sampler import NeighborSampler
        crow, col, _ = (t.cpu() for t in self.parts[b])
        n = crow.numel() - 1
        dst = torch.repeat_interleave(torch.arange(n), crow.diff())
        data = Data(edge_index=torch.stack([col, dst]), num_nodes=n)
        return NeighborSampler(data, [self.fanout[b]] * self.num_layers,
                               is_sorted=True)

    def __getitem__(self, key: Any) -> Any:
        b = key[1] if isinstance(key, tuple) else key
        return self.full[b]

    def __contains__(self, key: Any) -> bool:
        b = key[1] if isinstance(key, tuple) else key
        return b in self.full

    def __iter__(self) -> Any:
        return iter(self.full)

    def __len__(self) -> int:
        return len(self.full)

    def _draw_hop(self, b: str, frontier: Tensor) -> Tuple[Tensor, Tensor]:
        # Positions (into col / values) of the kept edges of the frontier,
        # and the node each comes from (no search of the CSR rows).
        crow = self.parts[b][0]
        start, deg = crow[frontier], crow[frontier + 1] - crow[frontier]
        fanout = self.fanout[b]
        small = torch.ones_like(deg, dtype=torch.bool) if fanout == -1 \
            else deg <= fanout
        # every edge of the nodes with few neighbours ...
        s_start, s_deg = start[small], deg[small]
        row = torch.repeat_interleave(torch.arange(
            s_deg.numel(), device=deg.device), s_deg)
        offset = torch.arange(row.numel(), device=deg.device) - \
            torch.repeat_interleave(s_deg.cumsum(0) - s_deg, s_deg)
        picked = [s_start[row] + offset]
        rows = [frontier[small][row]]
        if not bool(small.all()):  # ... and fanout draws of the others
            b_start, b_deg = start[~small], deg[~small]
            r = torch.rand(b_deg.numel(), fanout, device=deg.device,
                           generator=self.generator)
            draw = (r * b_deg.unsqueeze(1)).long().clamp_max_(
                (b_deg - 1).unsqueeze(1))
            pos, inverse = torch.unique(
                (b_start.unsqueeze(1) + draw).flatten(), return_inverse=True)
            # repeats of a position come from one node: any of them will do
            src = frontier[~small].repeat_interleave(fanout)
            picked.append(pos)
            rows.append(src.new_empty(pos.numel()).scatter_(0, inverse, src))
        return torch.cat(picked), torch.cat(rows)

    def neighborhood(self, b: str, seeds: Tensor) -> Neighborhood:
        r"""The :class:`Neighborhood` of the unique global node ids
        :obj:`seeds` in behavior :obj:`b`."""
        draw = self._draw_pyg if self.backend == 'pyg' else self._draw_torch
        nodes, rows, cols, pos = draw(b, seeds)
        return Neighborhood(nodes, self._sub_adjacency(b, nodes.numel(),
                                                       rows, cols, pos))

    def _draw_pyg(self, b: str, seeds: Tensor
                  ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        from torch_geometric.sampler import NodeSamplerInput
        out = self._pyg[b].sample_from_nodes(
            NodeSamplerInput(input_id=None, node=seeds.cpu()))
        return tuple(t.to(seeds.device) for t in  # type: ignore
                     (out.node, out.col, out.row, out.edge))

    def _draw_torch(self, b: str, seeds: Tensor
                    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        # (nodes, local ends of the kept edges, their positions in col)
        crow, col, _ = self.parts[b]
        n = crow.numel() - 1
        local = self._local.get(b)
        if local is None or local.device != seeds.device:
            local = torch.full((n, ), -1, dtype=torch.long,
                               device=seeds.device)
            self._local[b] = local
        nodes = [seeds]
        local[seeds] = torch.arange(seeds.numel(), device=seeds.device)
        count = seeds.numel()
        frontier, edges, sources = seeds, [], []
        for _ in range(self.num_layers):
            pos, src = self._draw_hop(b, frontier)
            if pos.numel() == 0:
                break
            edges.append(pos)
            sources.append(src)
            nbr = torch.unique(col[pos])
            new = nbr[local[nbr] < 0]
            local[new] = torch.arange(count, count + new.numel(),
                                      device=seeds.device)
            count += new.numel()
            nodes.append(new)
            frontier = new
        all_nodes = torch.cat(nodes)
        pos = torch.cat(edges) if edges else col.new_zeros(0)
        rows = local[torch.cat(sources)] if edges else pos
        cols = local[col[pos]]
        local[all_nodes] = -1  # ready for the next call
        return all_nodes, rows, cols, pos

    def _sub_adjacency(self, b: str, size: int, r: Tensor, c: Tensor,
                       pos: Tensor) -> Tensor:
        # the symmetric closure of the kept edges (local ends r, c; their
        # positions pos in col / values), with their global values; an edge
        # kept from both of its ends appears twice and keeps its (equal)
        # value once
        values = self.parts[b][2]
        keys, inverse = torch.unique(
            torch.cat([r * size + c, c * size + r]), return_inverse=True)
        value = values.new_zeros(keys.numel()).scatter_(
            0, inverse, torch.cat([values[pos], values[pos]]))
        index = torch.stack([keys // size, keys % size])
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter('ignore')
            return torch.sparse_coo_tensor(
                index, value, (size, size), is_coalesced=True,
                check_invariants=False).to_sparse_csr()

