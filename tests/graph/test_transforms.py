import pytest
import torch

from rmbrec_pyg.data import compute_stats
from rmbrec_pyg.graph import PerturbAuxiliaryEdges


def _keys(index, ni):
    return set((index[0] * ni + index[1]).tolist())


@pytest.mark.parametrize('ratio', [0.1, 0.5])
def test_remove(tiny, ratio):
    ni = tiny['item'].num_nodes
    out = PerturbAuxiliaryEdges(ratio, 'remove', seed=1)(tiny)
    for b in ('view', 'cart'):
        before = tiny['user', b, 'item'].edge_index
        after = out['user', b, 'item'].edge_index
        assert after.size(1) == before.size(1) - round(ratio * before.size(1))
        assert _keys(after, ni) <= _keys(before, ni)
        assert torch.equal(out['item', f'rev_{b}', 'user'].edge_index,
                           after.flip([0]))
    assert torch.equal(out['user', 'buy', 'item'].edge_index,
                       tiny['user', 'buy', 'item'].edge_index)


def test_add(tiny):
    ni = tiny['item'].num_nodes
    out = PerturbAuxiliaryEdges(0.3, 'add', behaviors=['cart'], seed=2)(tiny)
    before = tiny['user', 'cart', 'item'].edge_index
    after = out['user', 'cart', 'item'].edge_index
    added = _keys(after, ni) - _keys(before, ni)
    assert after.size(1) == before.size(1) + round(0.3 * before.size(1))
    assert len(added) == round(0.3 * before.size(1))  # new, no duplicates
    store = tiny['user', 'buy', 'item']
    held = _keys(store.val_edge_label_index, ni) | _keys(
        store.test_edge_label_index, ni)
    assert not added & held
    assert torch.equal(out['user', 'view', 'item'].edge_index,
                       tiny['user', 'view', 'item'].edge_index)
    # the original object is untouched and the transform is seeded
    assert tiny['user', 'cart', 'item'].edge_index.size(1) == before.size(1)
    again = PerturbAuxiliaryEdges(0.3, 'add', behaviors=['cart'],
                                  seed=2)(tiny)
    assert torch.equal(again['user', 'cart', 'item'].edge_index, after)


def test_add_noise_dilutes_behavior(tiny):
    # Random edges cannot remove aligned pairs (BAR never drops) but they
    # dilute the behavior: a smaller share of its edges are purchases.
    ni = tiny['item'].num_nodes
    out = PerturbAuxiliaryEdges(1.0, 'add', seed=0)(tiny)
    assert compute_stats(out).bar['view'] >= compute_stats(tiny).bar['view']
    buy = _keys(tiny['user', 'buy', 'item'].edge_index, ni)

    def precision(d):
        keys = _keys(d['user', 'view', 'item'].edge_index, ni)
        return len(keys & buy) / len(keys)
    assert precision(out) < precision(tiny)


def test_errors(tiny):
    with pytest.raises(ValueError, match="'mode' must be 'add' or 'remove'"):
        PerturbAuxiliaryEdges(0.1, 'flip')
    with pytest.raises(ValueError, match="'ratio' must lie in"):
        PerturbAuxiliaryEdges(1.5, 'remove')
    with pytest.raises(ValueError, match=r"cannot perturb \['buy'\]"):
        PerturbAuxiliaryEdges(0.1, behaviors=['buy'])(tiny)
