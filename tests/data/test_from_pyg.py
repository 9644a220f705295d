r"""PyG's Taobao dataset, read from a small UserBehavior.csv in its raw
folder (nothing is downloaded), into the multi-behavior layout."""
import pytest
import torch

from rmbrec_pyg.data import BehaviorEdgesToTypes, PyGTaobao
from rmbrec_pyg.data.errors import ConfigError

T0 = 1511539200  # PyG keeps events from 2017-11-25 to 2017-12-03


def _log(path):
    rows = []
    for u in range(1, 7):  # users 1..6 buy 4 items each, in time order
        for k in range(4):
            rows.append((u, 100 + (u + k) % 8, 7, 'buy', T0 + 1000 * k + u))
        rows.append((u, 100 + (u + 5) % 8, 7, 'pv', T0 + 10))
        rows.append((u, 100 + (u + 6) % 8, 7, 'cart', T0 + 20))
    rows.append((1, 101, 7, 'buy', T0 + 99999))  # a repeat: earliest kept
    rows.append((7, 100, 7, 'buy', T0 + 5))  # user 7: one purchase
    rows.append((2, 103, 7, 'fav', T0 + 7))
    rows.append((3, 104, 7, 'buy', T0 - 100))  # before PyG's window
    path.write_text(''.join(f'{u},{i},{c},{b},{t}\n'
                            for u, i, c, b, t in rows))


# PyG's own processing hands pandas' read-only arrays to torch.from_numpy.
@pytest.mark.filterwarnings('ignore:The given NumPy array is not writable')
def test_pyg_taobao_to_behaviors(tmp_path):
    pytest.importorskip('pandas', reason="PyG's Taobao needs pandas")
    (tmp_path / 'raw').mkdir()
    _log(tmp_path / 'raw' / 'UserBehavior.csv')
    ds = PyGTaobao(str(tmp_path))
    data = ds[0]
    assert data.behaviors == ['cart', 'collect', 'view', 'buy']
    assert data['user'].num_nodes == 7 and data['item'].num_nodes == 8
    store = data['user', 'buy', 'item']
    # users 0..5 held out (4 purchases each); user 6 (one) trains only
    assert store.val_edge_label_index.size(1) == 6
    assert store.edge_index.size(1) == 6 * 2 + 1
    # the last purchase by time is test, the one before it validation
    test = dict(store.test_edge_label_index.t().tolist())
    val = dict(store.val_edge_label_index.t().tolist())
    # raw user 1 (row 0) bought raw items 101, 102, 103, 104 in that order
    # (the repeat of 101 later is dropped); items are numbered by raw id
    assert test[0] == 4 and val[0] == 3
    assert data['user', 'collect', 'item'].edge_index.tolist() == [[1], [3]]
    assert 'PyGTaobao' in repr(ds)


def test_transform_checks_its_input():
    from torch_geometric.data import HeteroData
    data = HeteroData()
    data['user'].num_nodes = 2
    data['item'].num_nodes = 2
    data['user', 'to', 'item'].edge_index = torch.tensor([[0], [1]])
    with pytest.raises(ConfigError, match="has no 'behavior'"):
        BehaviorEdgesToTypes()(data)
    with pytest.raises(ConfigError, match="target 'order' is not among"):
        BehaviorEdgesToTypes(target='order')
