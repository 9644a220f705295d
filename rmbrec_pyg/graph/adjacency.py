r"""Symmetrically normalised bipartite adjacency, built once per behavior,
and a sparse-dense product whose backward reuses the same matrix."""
import warnings
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

try:  # optional extra: used when importable and asked for
    import torch_sparse  # noqa: F401
    from torch_sparse import SparseTensor
    HAS_TORCH_SPARSE = True
except ImportError:  # pragma: no cover - depends on the environment
    SparseTensor = None  # type: ignore
    HAS_TORCH_SPARSE = False

#: The sparse formats :func:`normalized_adjacency` can build.
SPARSE_BACKENDS = ('torch', 'torch_sparse')

def check_edge_weight(edge_weight: Tensor, num_edges: int) -> Tensor:
    r"""Returns :obj:`edge_weight` if it is an :obj:`[E]` tensor of finite,
    non-negative numbers for :obj:`E = num_edges` edges; raises a
    :class:`ValueError` saying what is wrong otherwise."""
    if not isinstance(edge_weight, Tensor) or edge_weight.dim() != 1 or \
            edge_weight.numel() != num_edges:
        shape = list(edge_weight.shape) if isinstance(edge_weight, Tensor) \
            else type(edge_weight).__name__
        raise ValueError(f"'edge_weight' must be a [E] tensor with E = "
                         f'{num_edges} edges (got {shape})')
    if not edge_weight.is_floating_point():
        edge_weight = edge_weight.to(torch.float)
    if not bool(torch.isfinite(edge_weight).all()) or \
            bool((edge_weight < 0).any()):
        raise ValueError("'edge_weight' must hold finite, non-negative "
                         'numbers (the degrees are their sums)')
    return edge_weight


def normalized_adjacency(edge_index: Tensor, num_users: int, num_items: int,
                         eps: float = 1e-7, backend: str = 'torch',
                         device: Optional[torch.device] = None,
                         edge_weight: Optional[Tensor] = None) -> Any:
    r"""Builds :math:`\hat{A} = D^{-1/2} A D^{-1/2}` of the bipartite graph
    of one behavior over :obj:`num_users + num_items` nodes (users first,
    no self-loops), as LightGCN does:

    .. math::
        A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}, \qquad
        \hat{A}_{ui} = \frac{1}{\sqrt{(d_u + \epsilon)(d_i + \epsilon)}}.

    Degrees come from :func:`torch.bincount`; nothing dense is built. With
    :obj:`edge_weight`, :math:`A` holds the weights and the degrees are
    weighted sums, as :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`
    computes them: :math:`\hat{A}_{ui} = w_{ui} / \sqrt{(d_u + \epsilon)
    (d_i + \epsilon)}`, :math:`d_u = \sum_i w_{ui}`.

    Args:
        edge_index (Tensor): :obj:`[2, E]` 0-based ``(user, item)`` pairs.
        num_users (int): Number of users.
        num_items (int): Number of items.
        eps (float): Added to the degrees, as in the authors' code.
            (default: :obj:`1e-7`)
        backend (str): ``'torch'`` (a symmetric CSR tensor used with
            :func:`symmetric_spmm`) or ``'torch_sparse'`` (a
            :class:`torch_sparse.SparseTensor`). (default: :obj:`'torch'`)
        device (torch.device, optional): Where to build it.
        edge_weight (Tensor, optional): :obj:`[E]` non-negative weights of
            the edges. (default: :obj:`None`, every edge weighs 1)
    """
    if backend not in SPARSE_BACKENDS:
        raise ValueError(f"'backend' must be one of {SPARSE_BACKENDS} in "
                         f"'normalized_adjacency' (got {backend!r})")
    if backend == 'torch_sparse' and not HAS_TORCH_SPARSE:
        raise ImportError("backend='torch_sparse' needs the optional "
                          "'torch_sparse' package (pip install torch_sparse)")
    device = edge_index.device if device is None else device
    edge_index = edge_index.to(device)
    n = num_users + num_items
    user, item = edge_index[0], edge_index[1] + num_users
    weight = None if edge_weight is None else \
        check_edge_weight(edge_weight, edge_index.size(1)).to(device)
    deg_u = torch.bincount(user, weight, minlength=n).to(torch.float)
    deg_i = torch.bincount(item, weight, minlength=n).to(torch.float)
    deg = deg_u + deg_i
    inv_sqrt = (deg + eps).pow(-0.5)
    row = torch.cat([user, item])
    col = torch.cat([item, user])
    value = inv_sqrt[row] * inv_sqrt[col]
    if weight is not None:
        value = value * torch.cat([weight, weight]).to(torch.float)
    if backend == 'torch_sparse':
        return SparseTensor(row=row, col=col, value=value,
                            sparse_sizes=(n, n)).coalesce()
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter('ignore')
        adj = torch.sparse_coo_tensor(torch.stack([row, col]), value, (n, n),
                                      check_invariants=False)
        return adj.coalesce().to_sparse_csr()


def _mm(adj: Tensor, x: Tensor) -> Tensor:
    # On CPU, the row-parallel "spmm_reduce" kernel behind
    # torch.sparse.mm(csr, x, 'sum') beats the generic addmm path of
    # ``adj @ x`` (see benchmarks/README.md).
    if adj.layout == torch.sparse_csr and adj.device.type == 'cpu':
        return torch.sparse.mm(adj, x, 'sum')
    return adj @ x


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return _mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[None, Tensor]:
        # A is symmetric, so A^T g = A g: no transpose is ever built, and
        # the product stays differentiable for double backward (IRMv2).
        return None, _SymmetricSpMM.apply(ctx.adj, grad)


def symmetric_spmm(adj: Any, x: Tensor) -> Tensor:
    r"""Computes :math:`\hat{A} X` for a *symmetric* sparse :math:`\hat{A}`
    (a CSR/COO :class:`torch.Tensor`, or a :class:`torch_sparse.SparseTensor`).
    The backward is :math:`\hat{A} G`, reusing the same matrix."""
    if HAS_TORCH_SPARSE and isinstance(adj, SparseTensor):
        return adj @ x
    return _SymmetricSpMM.apply(adj, x)


class _SpMMNormalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor, eps: float) -> Tensor:
        h = _mm(adj, x)
        # One reduction pass, no [N, F] temporary.
        inv = torch.linalg.vector_norm(h, dim=-1, keepdim=True).clamp_min_(
            eps).reciprocal_()
        h.mul_(inv)
        ctx.adj = adj
        ctx.save_for_backward(h, inv)
        return h

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[None, Tensor, None]:
        y, inv = ctx.saved_tensors
        dot = (grad * y).sum(-1, keepdim=True)
        g = torch.addcmul(grad, y, dot, value=-1.0).mul_(inv)
        return None, _mm(ctx.adj, g), None


def spmm_normalize(adj: Any, x: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Computes :math:`\mathrm{normalize}(\hat{A} X)` (row-wise L2) for a
    symmetric torch sparse :math:`\hat{A}` in one autograd node, with a
    hand-written backward that allocates little.
    Not twice differentiable; use the unfused path for double backward."""
    if HAS_TORCH_SPARSE and isinstance(adj, SparseTensor):
        h = adj @ x
        return h * torch.rsqrt((h * h).sum(-1, keepdim=True).clamp_min(
            eps * eps))
    return _SpMMNormalize.apply(adj, x, eps)
