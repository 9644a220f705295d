import subprocess
import sys

import pytest
import torch
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from rmbrec_pyg.data import edge_index_dict_of
from rmbrec_pyg.nn import BehaviorConv, MultiBehaviorEncoder


def _homog(index, nu):
    return torch.cat([torch.stack([index[0], index[1] + nu]),
                      torch.stack([index[1] + nu, index[0]])], dim=1)


def test_behavior_conv_matches_lgconv(tiny):
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    index = tiny['user', 'cart', 'item'].edge_index
    ei = _homog(index, nu)
    ei_n, w = gcn_norm(ei, None, nu + ni, add_self_loops=False)
    x = torch.randn(nu + ni, 8)
    ref = LGConv(normalize=False)(x, ei_n, w)
    adj = MultiBehaviorEncoder.build_adjacency({'cart': index}, nu, ni,
                                               eps=0.0)['cart']
    conv = BehaviorConv()
    assert torch.allclose(conv(x, adj), ref, atol=1e-5)
    assert torch.allclose(conv(x, ei_n, w), ref, atol=1e-5)


def _manual(enc, edges, combination):
    nu = enc.num_users
    x0 = torch.cat([enc.user_embedding.weight, enc.item_embedding.weight])
    outs = []
    for b in enc.behaviors:
        ei = _homog(edges[b], nu)
        ei, w = gcn_norm(ei, None, x0.size(0), add_self_loops=False)
        conv = LGConv(normalize=False)
        x, layers = x0, [x0]
        for _ in range(enc.num_layers):
            x = conv(x, ei, w)
            if combination == 'normalized_sum':
                x = torch.nn.functional.normalize(x, dim=-1)
            layers.append(x)
        out = torch.stack(layers).sum(0)
        if combination == 'mean':
            out = out / (enc.num_layers + 1)
        outs.append(out)
    out = torch.stack(outs, dim=1)
    return out[:nu], out[nu:]


@pytest.mark.parametrize('combination', ['mean', 'normalized_sum'])
@pytest.mark.parametrize('fused', [True, False])
def test_encoder_matches_lightgcn(tiny, combination, fused):
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    edges = edge_index_dict_of(tiny)
    enc = MultiBehaviorEncoder(nu, ni, tiny.behaviors, embedding_dim=8,
                               num_layers=2, layer_combination=combination,
                               fused=fused)
    adj = enc.build_adjacency(edges, nu, ni)
    u, i = enc(adj)
    assert u.shape == (nu, 3, 8) and i.shape == (ni, 3, 8)
    ru, ri = _manual(enc, edges, combination)
    assert torch.allclose(u, ru, atol=1e-4)
    assert torch.allclose(i, ri, atol=1e-4)
    # raw edge_index input and edge-type keys give the same result
    u2, _ = enc({('user', b, 'item'): e for b, e in edges.items()})
    assert torch.allclose(u, u2, atol=1e-5)
    zu, zi = enc.get_embedding(adj)
    assert torch.allclose(zu, u.mean(1), atol=1e-6)
    w = torch.tensor([0.0, 0.0, 1.0])
    zu_w, _ = enc.get_embedding(adj, weights=w)
    assert torch.allclose(zu_w, u[:, 2], atol=1e-6)


def test_fused_and_unfused_gradients_agree(tiny):
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    edges = edge_index_dict_of(tiny)
    grads = []
    for fused in (True, False):
        torch.manual_seed(0)
        enc = MultiBehaviorEncoder(nu, ni, tiny.behaviors, 8, 3,
                                   fused=fused)
        u, i = enc(enc.build_adjacency(edges, nu, ni))
        (u.pow(2).sum() + i[:, 0].sum()).backward()
        grads.append(enc.user_embedding.weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_row_gather_matches_full_output(tiny):
    nu, ni = tiny['user'].num_nodes, tiny['item'].num_nodes
    adj = MultiBehaviorEncoder.build_adjacency(edge_index_dict_of(tiny), nu,
                                               ni)
    users = torch.tensor([3, 0, 3, nu - 1])
    items = torch.tensor([1, ni - 1, 1, 0, 2])
    grads, outs = [], []
    for gather in (False, True):
        torch.manual_seed(0)
        enc = MultiBehaviorEncoder(nu, ni, tiny.behaviors, 8, 2)
        if gather:
            u, i = enc(adj, users, items)
        else:
            u, i = enc(adj)
            u, i = u[users], i[items]
        (u.pow(2).sum() + i.sin().sum()).backward()
        outs.append((u.detach(), i.detach()))
        grads.append(enc.item_embedding.weight.grad)
    assert outs[1][0].shape == (4, len(tiny.behaviors), 8)
    assert torch.allclose(outs[0][0], outs[1][0])
    assert torch.allclose(outs[0][1], outs[1][1])
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    with pytest.raises(ValueError, match='pass both'):
        enc(adj, users)


def test_errors_and_repr():
    with pytest.raises(ValueError, match="'layer_combination' must be one"):
        MultiBehaviorEncoder(3, 3, ['buy'], layer_combination='max')
    with pytest.raises(ValueError, match="'embedding_dim' must be positive"):
        MultiBehaviorEncoder(3, 3, ['buy'], embedding_dim=0)
    with pytest.raises(ValueError, match="'behaviors' must not be empty"):
        MultiBehaviorEncoder(3, 3, [])
    enc = MultiBehaviorEncoder(3, 4, ['cart', 'buy'], 8, 2)
    assert repr(enc) == ("MultiBehaviorEncoder(3, 4, behaviors=['cart', "
                         "'buy'], embedding_dim=8, num_layers=2, "
                         "layer_combination='normalized_sum')")
    with pytest.raises(KeyError, match="no graph for behavior 'cart'"):
        enc({'buy': torch.tensor([[0], [0]])})


def test_reset_parameters():
    enc = MultiBehaviorEncoder(500, 400, ['buy'], 64, init_std=0.1)
    assert enc.user_embedding.weight.std().item() == pytest.approx(0.1,
                                                                    rel=0.05)


def test_import_without_hydra():
    code = ('import sys, rmbrec_pyg.nn, rmbrec_pyg.regularizers, '
            'rmbrec_pyg.train, rmbrec_pyg.data; '
            "assert 'hydra' not in sys.modules; "
            "assert 'omegaconf' not in sys.modules")
    subprocess.run([sys.executable, '-c', code], check=True)


def test_every_default_training_step_runs_through_the_layer(tmp_path):
    # The MessagePassing layer is the default path: a training step with the
    # default configuration calls it once per behavior and layer, and a
    # swapped-in subclass is what runs.
    from rmbrec_pyg.cli.builders import build_trainer, compose_config
    cfg = compose_config(['data.num_users=120', 'data.num_items=80',
                          'trainer.batch_size=64', 'trainer.progress=false',
                          'encoder.embedding_dim=8'])
    trainer = build_trainer(cfg)
    calls = []
    trainer.encoder.conv.register_forward_hook(
        lambda mod, args, out: calls.append(type(mod).__name__))
    total, _ = trainer.step(trainer.batches()[0])
    total.backward()
    enc = trainer.encoder
    assert calls == ['BehaviorConv'] * (len(enc.behaviors) * enc.num_layers)
    assert enc.conv.normalize_output and enc.conv.fused

    class Counted(BehaviorConv):
        seen = 0

        def message_and_aggregate(self, adj_t, x):
            Counted.seen += 1
            return super().message_and_aggregate(adj_t, x)

    enc.conv = Counted(normalize_output=True)
    trainer.step(trainer.batches()[0])
    assert Counted.seen == len(enc.behaviors) * enc.num_layers


def test_sparse_backend_by_config(tmp_path):
    from rmbrec_pyg.cli.builders import compose_config
    from rmbrec_pyg.graph import HAS_TORCH_SPARSE
    cfg = compose_config(['encoder.sparse_backend=nope'])
    from hydra.utils import instantiate
    with pytest.raises(Exception, match="'sparse_backend' must be one of"):
        instantiate(cfg.encoder, num_users=3, num_items=4,
                    behaviors=['buy'])
    if not HAS_TORCH_SPARSE:
        pytest.skip('torch_sparse is not installed (optional extra)')
    from rmbrec_pyg.cli.compose import run
    metrics = run(['data.num_users=120', 'data.num_items=80',
                   'trainer.max_epochs=1', 'trainer.progress=false',
                   'encoder.embedding_dim=8', 'trainer.batch_size=64',
                   'encoder.sparse_backend=torch_sparse'],
                  out_dir=str(tmp_path))
    assert metrics['best_epoch'] == 1


def test_gather_rows_matches_stacked_indexing():
    from rmbrec_pyg.nn.gather import gather_rows
    g = torch.Generator().manual_seed(0)
    towers = [torch.randn(20, 4, generator=g, requires_grad=True)
              for _ in range(3)]
    index = torch.tensor([3, 7, 3, 0, 19, 7, 7])
    ref = torch.stack([t[index] for t in towers], dim=1)
    out = gather_rows(towers, index)
    assert torch.equal(out, ref)
    w = torch.randn(out.shape, generator=g)
    ref_grads = torch.autograd.grad((ref * w).sum(), towers)
    grads = torch.autograd.grad((out * w).sum(), towers)
    for a, b in zip(ref_grads, grads):
        assert torch.allclose(a, b, atol=1e-6)
