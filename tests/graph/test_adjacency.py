import pytest
import torch

from rmbrec_pyg.graph import (HAS_TORCH_SPARSE, normalized_adjacency,
                              spmm_normalize, symmetric_spmm)
from rmbrec_pyg.nn.behavior_conv import l2_normalize


def _dense(index, nu, ni, eps=1e-7):
    n = nu + ni
    a = torch.zeros(n, n)
    a[index[0], index[1] + nu] = 1
    a[index[1] + nu, index[0]] = 1
    d = a.sum(1)
    inv = (d + eps).pow(-0.5)
    return inv.view(-1, 1) * a * inv.view(1, -1)


@pytest.fixture
def graph():
    index = torch.tensor([[0, 0, 1, 2, 2], [0, 1, 1, 2, 3]])
    return index, 3, 4


def test_normalized_adjacency(graph):
    index, nu, ni = graph
    adj = normalized_adjacency(index, nu, ni)
    assert adj.layout == torch.sparse_csr
    assert torch.allclose(adj.to_dense(), _dense(index, nu, ni))
    # user 0 has degree 2, item 1 degree 2: 1 / sqrt(2 * 2)
    assert adj.to_dense()[0, nu + 1] == pytest.approx(0.5, rel=1e-6)


def test_symmetric_spmm_grad(graph):
    index, nu, ni = graph
    adj = normalized_adjacency(index, nu, ni)
    dense = _dense(index, nu, ni)
    x = torch.randn(nu + ni, 5, requires_grad=True)
    g = torch.randn(nu + ni, 5)
    out = symmetric_spmm(adj, x)
    assert torch.allclose(out, dense @ x, atol=1e-6)
    (gx, ) = torch.autograd.grad(out, x, g)
    assert torch.allclose(gx, dense.t() @ g, atol=1e-6)


def test_spmm_normalize_matches_reference(graph):
    index, nu, ni = graph
    adj = normalized_adjacency(index, nu, ni)
    dense = _dense(index, nu, ni)
    x = torch.randn(nu + ni, 6, dtype=torch.double, requires_grad=True)
    adj64 = adj.to(torch.double)
    assert torch.autograd.gradcheck(lambda v: spmm_normalize(adj64, v), (x, ))
    ref = torch.nn.functional.normalize(dense.double() @ x, dim=-1)
    assert torch.allclose(spmm_normalize(adj64, x), ref)
    assert torch.allclose(l2_normalize(x), torch.nn.functional.normalize(
        x, dim=-1))


def test_bad_backend(graph):
    with pytest.raises(ValueError, match="'backend' must be"):
        normalized_adjacency(graph[0], 3, 4, backend='dense')


@pytest.mark.skipif(not HAS_TORCH_SPARSE, reason='torch_sparse not installed')
def test_torch_sparse_backend(graph):  # pragma: no cover
    index, nu, ni = graph
    adj = normalized_adjacency(index, nu, ni, backend='torch_sparse')
    x = torch.randn(nu + ni, 4)
    assert torch.allclose(symmetric_spmm(adj, x), _dense(index, nu, ni) @ x,
                          atol=1e-6)
